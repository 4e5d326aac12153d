import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.ts';

/** Where the API is and the key to use there. */
export interface Connection {
  endpoint: string;
  apiKey: string;
}

/** What the command line may say about the connection. */
export interface ConnectionFlags {
  endpoint?: string;
  apiKey?: string;
  profile?: string;
}

interface ConfigFile {
  profiles: Record<string, Partial<Connection>>;
}

const DEFAULT_PROFILE = 'default';

/**
 * The profile file `ocrq login` writes: `$OCRQ_CONFIG`, else `ocrq/config.json` in the XDG
 * config folder (`$XDG_CONFIG_HOME`, else `~/.config`).
 */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCRQ_CONFIG) return env.OCRQ_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'ocrq', 'config.json');
}

async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ConfigFile>;
    if (typeof parsed.profiles !== 'object' || parsed.profiles === null) throw new Error('no profiles');
    return { profiles: parsed.profiles };
  } catch {
    throw new CliError('BAD_CONFIG', `${path} is not an ocrq profile file; fix or delete it`);
  }
}

/**
 * The connection to use, each field from the first that has it: the flag, the environment
 * (`OCRQ_ENDPOINT`, `OCRQ_API_KEY`), the profile (`--profile`, `$OCRQ_PROFILE`, else `default`).
 */
export async function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  // A variable set to nothing counts as not set.
  const named = flags.profile ?? (env.OCRQ_PROFILE || undefined);
  let endpoint = flags.endpoint ?? (env.OCRQ_ENDPOINT || undefined);
  let apiKey = flags.apiKey ?? (env.OCRQ_API_KEY || undefined);
  if (!endpoint || !apiKey || named) {
    const path = configPath(env);
    const profile = (await readConfig(path)).profiles[named ?? DEFAULT_PROFILE];
    if (named && !profile)
      throw new CliError('NO_PROFILE', `no profile "${named}" in ${path}; run ocrq login`);
    endpoint ??= profile?.endpoint;
    apiKey ??= profile?.apiKey;
  }
  if (!endpoint) {
    throw new CliError(
      'NO_ENDPOINT',
      'no API endpoint: pass --endpoint, set OCRQ_ENDPOINT or run ocrq login',
    );
  }
  if (!apiKey) {
    throw new CliError('NO_API_KEY', 'no API key: pass --api-key, set OCRQ_API_KEY or run ocrq login');
  }
  return { endpoint, apiKey };
}

/**
 * Stores a profile, keeping the others. The file holds API keys: it is written 0600 (in a 0700
 * folder) through a temporary file, so a crash never leaves half a file.
 */
export async function saveProfile(
  connection: Connection,
  name = DEFAULT_PROFILE,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = configPath(env);
  const config = await readConfig(path);
  config.profiles[name] = connection;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  return path;
}
