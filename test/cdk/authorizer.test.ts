import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyAuthorizer } from '../../lib/constructs/authorizer.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

function authorizerTemplate(cacheTtl?: Duration): Template {
  const stack = testStack();
  const { authorizer } = new ApiKeyAuthorizer(stack, 'ApiKeyAuthorizer', {
    resources: pipelineResources(stack),
    cacheTtl,
  });
  // An authorizer exists in a template only once a method of some API uses it.
  new RestApi(stack, 'Api').root.addMethod('GET', new MockIntegration(), { authorizer });
  return Template.fromStack(stack);
}

describe('ApiKeyAuthorizer', () => {
  let template: Template;

  beforeAll(() => {
    template = authorizerTemplate();
  });

  it('runs lambdas/authorizer as a REQUEST authorizer on x-api-key, cached five minutes per key', () => {
    const [[functionId, fn]] = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'authorizer' } } },
      }),
    ) as [[string, { Properties: Record<string, unknown> }]];
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Timeout: 5 });
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.x-api-key',
      AuthorizerResultTtlInSeconds: 300,
    });
    const [authorizer] = Object.values(template.findResources('AWS::ApiGateway::Authorizer'));
    expect(JSON.stringify(authorizer?.Properties.AuthorizerUri)).toContain(
      `{"Fn::GetAtt":["${functionId}","Arn"]}`,
    );
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'apigateway.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
    });
    authorizerTemplate(Duration.seconds(30)).hasResourceProperties('AWS::ApiGateway::Authorizer', {
      AuthorizerResultTtlInSeconds: 30,
    });
  });

  it('may only read single items of the job table', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('ApiKeyAuthorizer'))
      .map(({ statement }) => statement);
    const actions = statements.flatMap((s) => [s.Action].flat()).filter((a) => !a.startsWith('xray:'));
    expect(actions).toEqual(['dynamodb:GetItem']);
    const tableStatement = statements.find((s) => [s.Action].flat().includes('dynamodb:GetItem'));
    expect(JSON.stringify(tableStatement?.Resource)).toMatch(/JobsTable/);
    expect(JSON.stringify(tableStatement?.Resource)).not.toMatch(/index/);
    expect(wildcardWrites(template)).toEqual([]);
  });
});
