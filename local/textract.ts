import { TextractClient } from '@aws-sdk/client-textract';
import type { TextractSettings } from '../lambdas/shared/config.ts';

/**
 * Textract in the local stack is real or absent: with `OCRQ_TEXTRACT_REGION` set and AWS
 * credentials the SDK's default chain finds (environment, profile, SSO…), the stack's Textract
 * client calls the real service in that region (its other clients stay on the emulators);
 * otherwise Textract is off, `engine: textract` answers 400 ENGINE_UNAVAILABLE and `auto` keeps
 * PP-OCR's pages. Locally there is no completion channel (documents live in the emulator, which
 * Textract cannot read), so every page goes to DetectDocumentText on its own.
 */
export async function localTextract(
  env: Record<string, string | undefined>,
  warn: (message: string) => void,
): Promise<TextractSettings | undefined> {
  const region = env.OCRQ_TEXTRACT_REGION;
  if (!region) return undefined;
  const client = new TextractClient({ region });
  try {
    await client.config.credentials();
    return { region };
  } catch (error) {
    warn(
      `OCRQ_TEXTRACT_REGION is set but no AWS credentials were found (${(error as Error).message}); Textract is off`,
    );
    return undefined;
  } finally {
    client.destroy();
  }
}
