import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Aspects, Aws, CfnCondition, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { packageRoot } from '../package-root.js';
import { STACK_OUTPUTS } from '../adapters/aws/stack-outputs.js';
import { authorizerDeploySettings, PREBUILT_AUTHORIZER, PREBUILT_TOKEN, type ResponseMode } from '../lambda/build.js';
import type { AuthorizerMode } from '../lambda/token.js';

/** Where a route sends an authorized request: a Lambda function (proxy integration) or an HTTP URL (HTTP proxy). */
export type RouteTarget = { readonly function: lambda.IFunction } | { readonly url: string };

/** One route behind the mutual TLS domain, authorized by the certificate authorizer unless `authorize` is false. */
export interface RouteOptions {
  /** HTTP method, or `ANY` (default) */
  readonly method?: string;
  /** path, API Gateway syntax: `/orders/{id}`, `/{proxy+}` (default) */
  readonly path?: string;
  readonly target: RouteTarget;
  /**
   * Whether the certificate authorizer guards the route (default true). A route without it is still behind mutual TLS
   * but not checked against the registry (revoked certificates pass): only for endpoints that must answer them,
   * such as a token endpoint that checks the certificate itself.
   */
  readonly authorize?: boolean;
}

/** The custom domain clients connect to. mutual TLS needs a Regional domain and an ACM certificate in the stack's region. */
export interface MtlsDomainOptions {
  /** e.g. `api.example.com`; create the DNS record (CNAME or alias) to the `CaRegionalDomainName` output yourself */
  readonly name: string;
  /** ARN of an ACM certificate for `name`, issued or imported in the stack's region */
  readonly certificateArn: string;
}

/**
 * The token service (README "Tokens"): `POST /token`, `GET /.well-known/jwks.json` and
 * `GET /.well-known/oauth-authorization-server` on the mutual TLS domain, served by the package's prebuilt token
 * function. Its issuer is `https://<domain name>`. The signing keys are not created by the stack: `ca token-key rotate`
 * creates them in KMS (ECC_NIST_P256, tagged `ca:name` = the table, `ca:label` = `token`) and publishes the key set
 * in the table; the operator policy allows exactly that, the function may only sign with such keys.
 */
export interface TokenServiceOptions {
  /**
   * CA_TOKEN_AUDIENCE: the `aud` of tokens for clients with no audiences recorded, and, with `authorizerMode`
   * `mtls+token`, the audience the authorizer requires (one value wires both). Default `https://<domain name>`.
   */
  readonly audience?: string;
  /** CA_TOKEN_TTL_SECONDS: token lifetime, 1 to 3600 (default 300) */
  readonly ttlSeconds?: number;
  /** CA_ROUTE_SCOPES of the `mtls+token` authorizer: route key → scopes the token must carry (only in that mode) */
  readonly routeScopes?: Record<string, string[]>;
}

export interface MtlsApiProps {
  /**
   * The custom domain. Leave it out for the first deployment: the stack then holds only the store (bucket, table,
   * keys, operator policy), `ca bootstrap` publishes the truststore, and a second deployment with the domain
   * creates the API (API Gateway refuses a mutual TLS domain whose truststore object does not exist yet).
   */
  readonly domain?: MtlsDomainOptions;
  /** `http` (API Gateway v2 HTTP API, default) or `rest` (API Gateway v1 REST API) */
  readonly apiType?: 'http' | 'rest';
  /**
   * How the authorizer answers payload 2.0 events: `iam` (policy, default) or `simple`. The one value sets both the
   * function's CA_RESPONSE_MODE and the HTTP API authorizer's EnableSimpleResponses (a mismatch is a 500 for every
   * request). REST APIs always get a policy.
   */
  readonly responseMode?: ResponseMode;
  /** where CA keys live: `ssm` (SecureString under the prefix, default) or `kms` (keys `ca` creates in KMS) */
  readonly keyCustody?: 'ssm' | 'kms';
  /** a customer-managed KMS key for SecureString parameters (CA keys, delivered bundles); default true */
  readonly secureStringKey?: boolean;
  /** SSM path of `ca`'s parameters (default `/ca`) */
  readonly parameterPrefix?: string;
  /** object key of the truststore in the bucket (default `truststore.pem`) */
  readonly truststoreKey?: string;
  /**
   * SSM parameter that `ca` writes with the truststore's object version on every publication; the domain reads its
   * TruststoreVersion from it at deployment (default `<parameterPrefix>/truststore/version`).
   */
  readonly truststoreVersionParameter?: string;
  /** the DynamoDB attribute holding an item's expiry in epoch seconds, enabled as the table's TTL (default `expiresAt`) */
  readonly timeToLiveAttribute?: string;
  /**
   * Where the default route (`ANY /{proxy+}`) sends authorized requests. Without it a small sample backend answers
   * with what the authorizer passed on; set `sampleBackend: false` to have no default route.
   */
  readonly target?: RouteTarget;
  /** deploy the sample backend when no `target` is given (default true) */
  readonly sampleBackend?: boolean;
  /** more routes (see also {@link MtlsApi.addRoute}) */
  readonly routes?: RouteOptions[];
  /** retention of the function and access logs (default one year) */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What the authorizer checks (CA_AUTHORIZER_MODE, src/lambda/README.md "Modes"; default `mtls`). The mode's own
   * variables go in `authorizerEnvironment`, except those `tokenService` sets in `mtls+token`.
   */
  readonly authorizerMode?: AuthorizerMode;
  /**
   * Deploy the token service (off by default; see {@link TokenServiceOptions}). Its routes run behind an authorizer
   * in `mtls` mode whatever `authorizerMode` is (a client has only its certificate there): the API's own authorizer
   * in `mtls` mode, a second function of the same bundle in `mtls+token` mode, whose other routes' authorizer then
   * gets CA_TOKEN_ISSUER, CA_TOKEN_AUDIENCE (and CA_ROUTE_SCOPES) equal to the token function's. The discovery
   * documents are public (no authorizer; still behind mutual TLS), as in `ca gateway`. Only with `authorizerMode`
   * `mtls` or `mtls+token`. Without `domain` it adds only the operator's permissions on the token keys.
   */
  readonly tokenService?: TokenServiceOptions;
  /**
   * more authorizer environment (see src/lambda/README.md); CA_TABLE, CA_RESPONSE_MODE and CA_AUTHORIZER_MODE are set
   * from the props
   */
  readonly authorizerEnvironment?: Record<string, string>;
  /** the authorizer's code (default: the package's prebuilt bundle, the same bytes as `ca authorizer build`) */
  readonly authorizerCode?: lambda.Code;
  /** or: the object key of the zip `ca authorizer build` writes, uploaded to the truststore bucket */
  readonly authorizerCodeKey?: string;
  /** a condition every API resource and output is created under (the plain CloudFormation template uses it) */
  readonly apiCondition?: CfnCondition;
}

/** The output keys `ca init --from-stack` reads (stable logical ids; one MtlsApi per stack). */
export const OUTPUTS = STACK_OUTPUTS;

/** The directory holding the prebuilt authorizer (`index.mjs`), in a checkout after `npm run build` or in the package. */
export function prebuiltAuthorizerDir(root = packageRoot()): string {
  const file = join(root, PREBUILT_AUTHORIZER);
  if (!existsSync(file)) throw new Error(`the prebuilt authorizer ${file} is missing: run \`npm run build\` in the ca package`);
  return join(root, 'dist', 'lambda');
}

/** The directory holding the prebuilt token function (`index.mjs`), the same bytes `ca token build` zips. */
export function prebuiltTokenDir(root = packageRoot()): string {
  const file = join(root, PREBUILT_TOKEN);
  if (!existsSync(file)) throw new Error(`the prebuilt token function ${file} is missing: run \`npm run build\` in the ca package`);
  return join(root, 'dist', 'lambda-token');
}

/** The token service's routes: the token endpoint (behind an mtls-mode authorizer) and the public discovery documents. */
export const TOKEN_ROUTES = [
  { method: 'POST', path: '/token', authorize: true },
  { method: 'GET', path: '/.well-known/jwks.json', authorize: false },
  { method: 'GET', path: '/.well-known/oauth-authorization-server', authorize: false },
] as const;

const TOKEN_ENV = ['CA_TOKEN_ISSUER', 'CA_TOKEN_AUDIENCE', 'CA_ROUTE_SCOPES'] as const;

const SAMPLE_BACKEND = `exports.handler = async (event) => {
  const rc = event.requestContext || {};
  const authorizer = rc.authorizer ? (rc.authorizer.lambda || rc.authorizer) : {};
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: event.rawPath || event.path, authorizer }) };
};`;

/**
 * API Gateway mutual TLS in front of an API, with the certificate authority's store, from one set of props.
 *
 * It creates the truststore bucket (versioned, encrypted, public access blocked, TLS only), the registry table
 * (partition key `pk`, on-demand, point-in-time recovery, deletion protection, TTL on `expiresAt`), a
 * customer-managed key for SecureString parameters, the operator policy `ca` needs, all retained when the stack is
 * deleted; and with `domain`, the authorizer function (the package's prebuilt bundle, arm64, nodejs22.x), an HTTP
 * or REST API whose default endpoint is disabled, its Regional custom domain with mutual TLS from the bucket's
 * truststore object, and the routes; with `tokenService` also the token function and its routes. The truststore
 * version is never a template literal: `ca` owns it.
 *
 * @example
 * ```ts
 * import { App, Stack } from 'aws-cdk-lib';
 * import { MtlsApi } from 'ca/cdk';
 *
 * const app = new App();
 * const stack = new Stack(app, 'Ca', { env: { region: 'eu-west-1' } });
 * const api = new MtlsApi(stack, 'Api', {
 *   domain: { name: 'api.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/…' },
 *   target: { url: 'https://backend.example.com' },
 * });
 * api.addRoute({ method: 'POST', path: '/orders', target: { function: ordersFunction } });
 * ```
 */
export class MtlsApi extends Construct {
  readonly bucket: s3.Bucket;
  readonly table: dynamodb.Table;
  /** the SecureString key, unless `secureStringKey: false` */
  readonly secureStringKey?: kms.Key;
  /** what the `ca` CLI needs on this store (attach it to the operator's or CI's role) */
  readonly operatorPolicy: iam.ManagedPolicy;
  readonly truststoreKey: string;
  readonly truststoreVersionParameter: string;
  readonly parameterPrefix: string;
  readonly responseMode: ResponseMode;
  readonly apiType: 'http' | 'rest';
  /** the authorizer function (with `domain`) */
  readonly authorizer?: lambda.Function;
  /** what the authorizer checks (CA_AUTHORIZER_MODE) */
  readonly authorizerMode: AuthorizerMode;
  /** the token function (with `domain` and `tokenService`) */
  readonly tokenFunction?: lambda.Function;
  /** the mtls-mode authorizer of the token route, when `authorizerMode` is not `mtls` (else it is `authorizer`) */
  readonly tokenRouteAuthorizer?: lambda.Function;
  /** the HTTP API (with `domain` and apiType http) */
  readonly httpApi?: apigwv2.CfnApi;
  /** the REST API (with `domain` and apiType rest) */
  readonly restApi?: apigw.CfnRestApi;
  private readonly api?: Construct;
  private readonly condition?: CfnCondition;
  private httpAuthorizer?: apigwv2.CfnAuthorizer;
  private restAuthorizer?: apigw.CfnAuthorizer;
  private tokenHttpAuthorizer?: apigwv2.CfnAuthorizer;
  private tokenRestAuthorizer?: apigw.CfnAuthorizer;
  private restDeployment?: apigw.CfnDeployment;
  private readonly restResources = new Map<string, string>();
  private readonly restRoutes: unknown[] = [];
  private routeCount = 0;

  constructor(scope: Construct, id: string, props: MtlsApiProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.parameterPrefix = (props.parameterPrefix ?? '/ca').replace(/\/+$/, '');
    this.truststoreKey = props.truststoreKey ?? 'truststore.pem';
    this.truststoreVersionParameter = props.truststoreVersionParameter ?? `${this.parameterPrefix}/truststore/version`;
    this.responseMode = props.responseMode ?? 'iam';
    this.apiType = props.apiType ?? 'http';
    this.condition = props.apiCondition;
    if (this.responseMode !== 'iam' && this.responseMode !== 'simple') throw new Error(`responseMode must be iam or simple, not ${JSON.stringify(this.responseMode)}`);
    if (this.apiType !== 'http' && this.apiType !== 'rest') throw new Error(`apiType must be http or rest, not ${JSON.stringify(this.apiType)}`);
    const keyCustody = props.keyCustody ?? 'ssm';
    if (keyCustody !== 'ssm' && keyCustody !== 'kms') throw new Error(`keyCustody must be ssm or kms, not ${JSON.stringify(keyCustody)}`);
    this.authorizerMode = props.authorizerMode ?? 'mtls';
    const tokenService = props.tokenService;
    checkAuthorizerProps(this.authorizerMode, props.authorizerEnvironment, tokenService);

    // --- the store: everything here outlives the stack (a `cdk destroy` must never delete a CA)
    this.bucket = new s3.Bucket(this, 'Truststore', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    nag(this.bucket, 'S1', 'one small object written only by ca; its writes are CloudTrail data events, and an access-log bucket belongs to the account\'s logging setup');
    this.table = new dynamodb.Table(this, 'Registry', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      timeToLiveAttribute: props.timeToLiveAttribute ?? 'expiresAt',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.secureStringKey !== false) {
      this.secureStringKey = new kms.Key(this, 'SecureStringKey', {
        description: `SecureString parameters of ca under ${this.parameterPrefix}`,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    this.operatorPolicy = new iam.ManagedPolicy(this, 'OperatorPolicy', {
      description: 'What the ca CLI needs on this store (templates/iam/ca-cli-policy.json)',
      document: operatorPolicyDocument({ bucket: this.bucket, table: this.table, truststoreKey: this.truststoreKey, parameterPrefix: this.parameterPrefix, secureStringKey: this.secureStringKey, keyCustody, tokenKeys: !!tokenService }),
    });
    // each wildcard acknowledged by itself (cdk-nag's evidence ids), so a new one in a later change is reported
    const arnOf = (service: string, resource: string) => `Resource::arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:${resource}`;
    const wildcards: [string, string][] = [
      [Token.isUnresolved(this.parameterPrefix) ? '' : `[${arnOf('ssm', `parameter${this.parameterPrefix}/*`)}]`, 'ca names its parameters (CA keys, bundles, truststore version) at run time, all under its own prefix'],
    ];
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnResource);
    wildcards.push([`[Resource::<${bucketId}.Arn>/crl/*]`, 'the CRLs are one object per CA, named by its serial at run time, all under crl/ in the truststore bucket']);
    if (keyCustody === 'kms') {
      wildcards.push(['[Resource::*]', 'kms:CreateKey and kms:ListKeys have no resource to name; the condition allows only SIGN_VERIFY keys tagged with this CA\'s ca:name to be created, and listing shows key ids only']);
      wildcards.push([`[${arnOf('kms', 'key/*')}]`, 'CA keys are created by ca at bootstrap and rotation; the condition limits use to keys tagged with this CA\'s ca:name']);
    } else if (tokenService) {
      wildcards.push(['[Resource::*]', 'kms:CreateKey, the TagResource of its tags and kms:ListKeys have no resource to name; the conditions allow only ECC_NIST_P256 SIGN_VERIFY keys tagged ca:name = this table, ca:label = token to be created, and listing shows key ids only']);
      wildcards.push([`[${arnOf('kms', 'key/*')}]`, 'token keys are created by ca token-key rotate; the condition limits use to keys tagged ca:name = this table, ca:label = token']);
    }
    for (const [finding, reason] of wildcards) nag(this.operatorPolicy, `IAM5${finding}`, reason);

    const out = (key: string, value: string, description: string, conditional = false) => {
      const o = new CfnOutput(this, key, { value, description });
      o.overrideLogicalId(key);
      if (conditional && this.condition) o.condition = this.condition;
    };
    out(OUTPUTS.region, stack.region, 'AWS region of the store (ca: aws.region)');
    out(OUTPUTS.bucket, this.bucket.bucketName, 'versioned truststore bucket (ca: aws.bucket)');
    out(OUTPUTS.truststoreKey, this.truststoreKey, 'truststore object key (ca: aws.truststoreKey)');
    out(OUTPUTS.table, this.table.tableName, 'registry table (ca: aws.table)');
    out(OUTPUTS.parameterPrefix, this.parameterPrefix, 'SSM prefix of ca (ca: aws.parameterPrefix)');
    out(OUTPUTS.keyCustody, keyCustody, 'CA key custody (ca: aws.keyCustody)');
    if (this.secureStringKey) out(OUTPUTS.kmsKeyId, this.secureStringKey.keyArn, 'SecureString key (ca: aws.kmsKeyId)');
    out(OUTPUTS.truststoreVersionParameter, this.truststoreVersionParameter, 'SSM parameter ca writes the truststore version to (ca: aws.truststoreVersionParameter)');
    out(OUTPUTS.operatorPolicy, this.operatorPolicy.managedPolicyArn, 'managed policy for the role that runs ca');

    if (!props.domain) return;

    // --- the API: created under `apiCondition` when there is one
    const api = new Construct(this, 'Api');
    this.api = api;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const settings = authorizerDeploySettings(this.responseMode, this.authorizerMode);
    const issuer = `https://${props.domain.name}`;
    const audience = tokenService?.audience ?? issuer;
    // mtls+token beside the token service: the authorizer checks the tokens it issues (one value wires both)
    const tokenEnv: Record<string, string> =
      tokenService && this.authorizerMode === 'mtls+token'
        ? { CA_TOKEN_ISSUER: issuer, CA_TOKEN_AUDIENCE: audience, ...(tokenService.routeScopes ? { CA_ROUTE_SCOPES: JSON.stringify(tokenService.routeScopes) } : {}) }
        : {};
    const authorizerEnv = { ...props.authorizerEnvironment, ...tokenEnv, CA_TABLE: this.table.tableName, ...settings.environment };
    const missing = settings.requiredEnvironment.filter((v) => !v.split(' or ').some((name) => name in authorizerEnv));
    if (missing.length) throw new Error(`authorizerMode ${this.authorizerMode} needs ${missing.join(', ')} in authorizerEnvironment${this.authorizerMode === 'mtls+token' ? ' (or the tokenService prop, which sets them)' : ''}`);
    const authorizerCode = props.authorizerCode ?? (props.authorizerCodeKey ? lambda.Code.fromBucket(this.bucket, props.authorizerCodeKey) : lambda.Code.fromAsset(prebuiltAuthorizerDir()));
    const fnLogs = new logs.LogGroup(api, 'AuthorizerLogs', { retention, removalPolicy: RemovalPolicy.RETAIN });
    const role = new iam.Role(api, 'AuthorizerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `ca authorizer: dynamodb:GetItem${this.authorizerMode === 'mtls+token' ? ' and BatchGetItem' : ''} on the registry, its own log group`,
      inlinePolicies: { authorizer: authorizerPolicyDocument(this.table, fnLogs, this.authorizerMode) },
    });
    this.authorizer = new lambda.Function(api, 'Authorizer', {
      description: 'ca certificate authorizer (prebuilt bundle of the ca package)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: authorizerCode,
      memorySize: 256,
      timeout: Duration.seconds(10),
      role,
      logGroup: fnLogs,
      environment: authorizerEnv,
    });
    nag(this.authorizer, 'L1', 'nodejs22.x is the runtime the authorizer bundle is built and tested for (esbuild target node22)');
    out(OUTPUTS.authorizerFunction, this.authorizer.functionName, 'authorizer function', true);

    this.operatorPolicy.addStatements(
      new iam.PolicyStatement({ sid: 'ApiGatewayDomains', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: [`arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/domainnames/${props.domain.name}`] }),
    );
    const truststoreUri = `s3://${this.bucket.bucketName}/${this.truststoreKey}`;
    // The version is resolved from SSM at each deployment: the value `ca` published last (aws-facts: a literal
    // TruststoreVersion would be re-applied on every stack update, rolling the domain back).
    const truststoreVersion = `{{resolve:ssm:${this.truststoreVersionParameter}}}`;
    const accessLogs = new logs.LogGroup(api, 'AccessLogs', { retention, removalPolicy: RemovalPolicy.RETAIN });
    let regionalDomainName: string;
    let regionalHostedZoneId: string;

    if (this.apiType === 'http') {
      const httpApi = new apigwv2.CfnApi(api, 'HttpApi', { name: `${stack.stackName}-mtls`, protocolType: 'HTTP', disableExecuteApiEndpoint: true });
      this.httpApi = httpApi;
      this.httpAuthorizer = new apigwv2.CfnAuthorizer(api, 'HttpAuthorizer', {
        apiId: httpApi.ref,
        name: 'ca-certificate',
        authorizerType: settings.httpApi.authorizerType,
        authorizerPayloadFormatVersion: '2.0',
        enableSimpleResponses: settings.httpApi.enableSimpleResponses,
        authorizerResultTtlInSeconds: settings.httpApi.authorizerResultTtlInSeconds,
        authorizerUri: invokeUri(this.authorizer),
      });
      this.allowInvoke(api, 'InvokeAuthorizer', this.authorizer, `${httpApi.ref}/authorizers/${this.httpAuthorizer.ref}`);
      const stage = new apigwv2.CfnStage(api, 'DefaultStage', {
        apiId: httpApi.ref,
        stageName: '$default',
        autoDeploy: true,
        accessLogSettings: { destinationArn: accessLogs.logGroupArn, format: ACCESS_LOG_FORMAT },
      });
      const domain = new apigwv2.CfnDomainName(api, 'Domain', {
        domainName: props.domain.name,
        domainNameConfigurations: [{ certificateArn: props.domain.certificateArn, endpointType: 'REGIONAL', securityPolicy: 'TLS_1_2' }],
        mutualTlsAuthentication: { truststoreUri, truststoreVersion },
      });
      new apigwv2.CfnApiMapping(api, 'Mapping', { apiId: httpApi.ref, domainName: domain.ref, stage: stage.ref });
      regionalDomainName = domain.attrRegionalDomainName;
      regionalHostedZoneId = domain.attrRegionalHostedZoneId;
    } else {
      const restApi = new apigw.CfnRestApi(api, 'RestApi', {
        name: `${stack.stackName}-mtls`,
        disableExecuteApiEndpoint: true,
        endpointConfiguration: { types: ['REGIONAL'] },
      });
      this.restApi = restApi;
      nag(restApi, 'APIG2', 'the API proxies to the user\'s backend, which validates its own requests; the authorizer validates the certificate');
      this.restAuthorizer = new apigw.CfnAuthorizer(api, 'RestAuthorizer', {
        restApiId: restApi.ref,
        name: 'ca-certificate',
        type: settings.restApi.type,
        authorizerResultTtlInSeconds: settings.restApi.authorizerResultTtlInSeconds,
        authorizerUri: invokeUri(this.authorizer),
      });
      this.allowInvoke(api, 'InvokeAuthorizer', this.authorizer, `${restApi.ref}/authorizers/${this.restAuthorizer.ref}`);
      this.restDeployment = new apigw.CfnDeployment(api, 'Deployment', { restApiId: restApi.ref, description: 'ca mtls api' });
      // A REST deployment is a snapshot: CloudFormation makes a new one only for a new logical id, so the id carries
      // a hash of the routes (set by an aspect, which runs after every addRoute and before the ids are resolved).
      const deployment = this.restDeployment;
      Aspects.of(api).add({
        visit: (node) => {
          if (node === deployment) deployment.overrideLogicalId(`CaRestDeployment${createHash('sha256').update(JSON.stringify(this.restRoutes)).digest('hex').slice(0, 12)}`);
        },
      });
      const stage = new apigw.CfnStage(api, 'Stage', {
        restApiId: restApi.ref,
        deploymentId: this.restDeployment.ref,
        stageName: 'api',
        accessLogSetting: { destinationArn: accessLogs.logGroupArn, format: ACCESS_LOG_FORMAT },
        methodSettings: [{ httpMethod: '*', resourcePath: '/*', loggingLevel: 'ERROR', metricsEnabled: true }],
      });
      const domain = new apigw.CfnDomainName(api, 'Domain', {
        domainName: props.domain.name,
        regionalCertificateArn: props.domain.certificateArn,
        endpointConfiguration: { types: ['REGIONAL'] },
        securityPolicy: 'TLS_1_2',
        mutualTlsAuthentication: { truststoreUri, truststoreVersion },
      });
      new apigw.CfnBasePathMapping(api, 'Mapping', { domainName: domain.ref, restApiId: restApi.ref, stage: stage.ref });
      regionalDomainName = domain.attrRegionalDomainName;
      regionalHostedZoneId = domain.attrRegionalHostedZoneId;
    }
    out(OUTPUTS.domains, `${props.domain.name}:${this.apiType}`, 'custom domain and API type (ca: aws.domains)', true);
    out(OUTPUTS.regionalDomainName, regionalDomainName, 'target of the DNS record (CNAME or alias) for the custom domain', true);
    out(OUTPUTS.regionalHostedZoneId, regionalHostedZoneId, 'hosted zone of the regional domain name (for a Route 53 alias)', true);

    const target = props.target ?? (props.sampleBackend === false ? undefined : { function: this.sampleBackend(api, retention) });
    if (target) this.addRoute({ target });
    for (const r of props.routes ?? []) this.addRoute(r);
    if (tokenService) {
      // the token route's authorizer shares the API's settings (caches, metrics, registry), not its token checks
      const certificateEnv = Object.fromEntries(Object.entries(props.authorizerEnvironment ?? {}).filter(([k]) => !/^CA_(TOKEN_|ROUTE_SCOPES$|JWKS_|JWT_|SPIFFE_)/.test(k)));
      const t = this.tokenService(api, { tokenService, issuer, audience, retention, authorizerCode, certificateEnv });
      this.tokenFunction = t.fn;
      this.tokenRouteAuthorizer = t.routeAuthorizer;
    }
    nag(api, 'APIG3', 'clients are authenticated by mutual TLS and the certificate authorizer; attach a WAF web ACL to the stage if the account requires one');
    if (this.condition) for (const c of api.node.findAll()) if (c instanceof CfnResource) c.cfnOptions.condition = this.condition;
  }

  /**
   * Adds a route behind the mutual TLS domain (with `domain` only). The token service, for one, adds its
   * `POST /token` here.
   * @throws Error when the construct has no API (no `domain`)
   */
  addRoute(r: RouteOptions): void {
    this.route(r);
  }

  /** A route; `tokenRoute`: authorized by the token routes' mtls-mode authorizer, `unauthorizedReason`: why none. */
  private route(r: RouteOptions, o: { tokenRoute?: boolean; unauthorizedReason?: string } = {}): void {
    if (!this.api) throw new Error('MtlsApi.addRoute needs the `domain` prop: without it the stack has no API');
    const httpAuthorizer = (o.tokenRoute && this.tokenHttpAuthorizer) || this.httpAuthorizer;
    const restAuthorizer = (o.tokenRoute && this.tokenRestAuthorizer) || this.restAuthorizer;
    const unauthorized = o.unauthorizedReason ?? UNAUTHORIZED_ROUTE;
    const n = ++this.routeCount;
    const scope = new Construct(this.api, `Route${n}`);
    const method = (r.method ?? 'ANY').toUpperCase();
    const path = r.path ?? '/{proxy+}';
    const authorize = r.authorize !== false;
    if (this.httpApi) {
      const integration = new apigwv2.CfnIntegration(scope, 'Integration', {
        apiId: this.httpApi.ref,
        ...('function' in r.target
          ? { integrationType: 'AWS_PROXY', integrationUri: r.target.function.functionArn, payloadFormatVersion: '2.0' }
          : { integrationType: 'HTTP_PROXY', integrationUri: r.target.url, integrationMethod: 'ANY', payloadFormatVersion: '1.0' }),
      });
      const route = new apigwv2.CfnRoute(scope, 'Route', {
        apiId: this.httpApi.ref,
        routeKey: `${method} ${path}`,
        target: `integrations/${integration.ref}`,
        ...(authorize ? { authorizationType: 'CUSTOM', authorizerId: httpAuthorizer!.ref } : { authorizationType: 'NONE' }),
      });
      if (!authorize) nag(route, 'APIG4', unauthorized);
      if ('function' in r.target) this.allowInvoke(scope, 'Invoke', r.target.function, `${this.httpApi.ref}/*/*`);
    } else {
      const restApi = this.restApi!;
      this.restRoutes.push([method, path, authorize, 'function' in r.target ? r.target.function.node.path : r.target.url, ...(restAuthorizer !== this.restAuthorizer ? ['token-route-authorizer'] : [])]);
      const resourceId = this.restResource(path);
      const m = new apigw.CfnMethod(scope, 'Method', {
        restApiId: restApi.ref,
        resourceId,
        httpMethod: method,
        ...(authorize ? { authorizationType: 'CUSTOM', authorizerId: restAuthorizer!.ref } : { authorizationType: 'NONE' }),
        integration:
          'function' in r.target
            ? { type: 'AWS_PROXY', integrationHttpMethod: 'POST', uri: invokeUri(r.target.function) }
            : { type: 'HTTP_PROXY', integrationHttpMethod: 'ANY', uri: r.target.url.replace(/\/?$/, path.includes('{proxy+}') ? '/{proxy}' : ''), ...(path.includes('{proxy+}') ? { requestParameters: { 'integration.request.path.proxy': 'method.request.path.proxy' } } : {}) },
        ...('url' in r.target && path.includes('{proxy+}') ? { requestParameters: { 'method.request.path.proxy': true } } : {}),
      });
      this.restDeployment!.addResourceDependency(m);
      nag(m, 'COG4', 'clients authenticate with certificates (mutual TLS), checked by the ca authorizer, not with Cognito users');
      if (!authorize) nag(m, 'APIG4', unauthorized);
      if ('function' in r.target) this.allowInvoke(scope, 'Invoke', r.target.function, `${restApi.ref}/*/*`);
    }
    if (this.condition) for (const c of scope.node.findAll()) if (c instanceof CfnResource) c.cfnOptions.condition = this.condition;
  }

  /**
   * The token function and its routes; in a mode other than `mtls`, a second authorizer function (same code,
   * CA_AUTHORIZER_MODE=mtls) with its own API authorizer for `POST /token`.
   */
  private tokenService(
    api: Construct,
    o: { tokenService: TokenServiceOptions; issuer: string; audience: string; retention: logs.RetentionDays; authorizerCode: lambda.Code; certificateEnv: Record<string, string> },
  ): { fn: lambda.Function; routeAuthorizer?: lambda.Function } {
    let routeAuthorizer: lambda.Function | undefined;
    if (this.authorizerMode !== 'mtls') {
      const settings = authorizerDeploySettings(this.responseMode, 'mtls');
      const logGroup = new logs.LogGroup(api, 'TokenRouteAuthorizerLogs', { retention: o.retention, removalPolicy: RemovalPolicy.RETAIN });
      const role = new iam.Role(api, 'TokenRouteAuthorizerRole', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: 'ca authorizer of the token route (mtls mode): dynamodb:GetItem on the registry, its own log group',
        inlinePolicies: { authorizer: authorizerPolicyDocument(this.table, logGroup) },
      });
      routeAuthorizer = new lambda.Function(api, 'TokenRouteAuthorizer', {
        description: 'ca certificate authorizer of the token route, mtls mode (prebuilt bundle of the ca package)',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        handler: 'index.handler',
        code: o.authorizerCode,
        memorySize: 256,
        timeout: Duration.seconds(10),
        role,
        logGroup,
        environment: { ...o.certificateEnv, CA_TABLE: this.table.tableName, ...settings.environment },
      });
      nag(routeAuthorizer, 'L1', 'nodejs22.x is the runtime the authorizer bundle is built and tested for (esbuild target node22)');
      if (this.httpApi) {
        this.tokenHttpAuthorizer = new apigwv2.CfnAuthorizer(api, 'HttpTokenRouteAuthorizer', {
          apiId: this.httpApi.ref,
          name: 'ca-certificate-token-route',
          authorizerType: settings.httpApi.authorizerType,
          authorizerPayloadFormatVersion: '2.0',
          enableSimpleResponses: settings.httpApi.enableSimpleResponses,
          authorizerResultTtlInSeconds: settings.httpApi.authorizerResultTtlInSeconds,
          authorizerUri: invokeUri(routeAuthorizer),
        });
        this.allowInvoke(api, 'InvokeTokenRouteAuthorizer', routeAuthorizer, `${this.httpApi.ref}/authorizers/${this.tokenHttpAuthorizer.ref}`);
      } else {
        this.tokenRestAuthorizer = new apigw.CfnAuthorizer(api, 'RestTokenRouteAuthorizer', {
          restApiId: this.restApi!.ref,
          name: 'ca-certificate-token-route',
          type: settings.restApi.type,
          authorizerResultTtlInSeconds: settings.restApi.authorizerResultTtlInSeconds,
          authorizerUri: invokeUri(routeAuthorizer),
        });
        this.allowInvoke(api, 'InvokeTokenRouteAuthorizer', routeAuthorizer, `${this.restApi!.ref}/authorizers/${this.tokenRestAuthorizer.ref}`);
      }
    }
    const logGroup = new logs.LogGroup(api, 'TokenLogs', { retention: o.retention, removalPolicy: RemovalPolicy.RETAIN });
    const role = new iam.Role(api, 'TokenRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ca token endpoint: dynamodb:GetItem on the registry, kms:Sign with the token keys, its own log group',
      inlinePolicies: { token: tokenPolicyDocument(this.table, logGroup) },
    });
    nag(role, `IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]`, 'token keys are created by ca token-key rotate; the condition limits signing to keys tagged ca:name = this table, ca:label = token');
    const fn = new lambda.Function(api, 'TokenFunction', {
      description: 'ca token endpoint (prebuilt bundle of the ca package)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(prebuiltTokenDir()),
      memorySize: 256,
      timeout: Duration.seconds(10),
      role,
      logGroup,
      environment: {
        CA_TABLE: this.table.tableName,
        CA_TOKEN_ISSUER: o.issuer,
        CA_TOKEN_AUDIENCE: o.audience,
        CA_TOKEN_TTL_SECONDS: String(o.tokenService.ttlSeconds ?? 300),
      },
    });
    nag(fn, 'L1', 'nodejs22.x is the runtime the token bundle is built and tested for (esbuild target node22)');
    for (const r of TOKEN_ROUTES) {
      this.route(
        { method: r.method, path: r.path, target: { function: fn }, authorize: r.authorize },
        { tokenRoute: true, unauthorizedReason: 'a public discovery document of the token service (RFC 8414, the JWK Set), as in ca gateway; still behind mutual TLS' },
      );
    }
    return { fn, routeAuthorizer };
  }

  private restResource(path: string): string {
    const restApi = this.restApi!;
    let parent = restApi.attrRootResourceId;
    let sofar = '';
    for (const part of path.split('/').filter(Boolean)) {
      sofar += `/${part}`;
      let id = this.restResources.get(sofar);
      if (!id) {
        const res = new apigw.CfnResource(this.api!, `Resource${this.restResources.size + 1}`, { restApiId: restApi.ref, parentId: parent, pathPart: part });
        if (this.condition) res.cfnOptions.condition = this.condition;
        id = res.ref;
        this.restResources.set(sofar, id);
      }
      parent = id;
    }
    return parent;
  }

  private allowInvoke(scope: Construct, id: string, fn: lambda.IFunction, sourcePath: string): void {
    new lambda.CfnPermission(scope, id, {
      action: 'lambda:InvokeFunction',
      functionName: fn.functionArn,
      principal: 'apigateway.amazonaws.com',
      sourceArn: `arn:${Aws.PARTITION}:execute-api:${Aws.REGION}:${Aws.ACCOUNT_ID}:${sourcePath}`,
    });
  }

  private sampleBackend(scope: Construct, retention: logs.RetentionDays): lambda.Function {
    const logGroup = new logs.LogGroup(scope, 'SampleBackendLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(scope, 'SampleBackendRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ca sample backend: its own log group only',
      inlinePolicies: { logs: new iam.PolicyDocument({ statements: [logsPolicyDocument(logGroup)] }) },
    });
    const fn = new lambda.Function(scope, 'SampleBackend', {
      description: 'ca sample backend: echoes what the authorizer passed on',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(SAMPLE_BACKEND),
      role,
      logGroup,
      timeout: Duration.seconds(5),
    });
    nag(fn, 'L1', 'same runtime as the authorizer (nodejs22.x), for a sample that is replaced by the user\'s backend');
    return fn;
  }
}

/** Acknowledges an AwsSolutions (cdk-nag) rule on a construct, with the one-line reason a reviewer reads. */
function nag(scope: Construct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
}

const UNAUTHORIZED_ROUTE = 'the route was added with authorize: false: still behind mutual TLS, and its backend checks the certificate itself';

const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  clientCertSerial: '$context.identity.clientCert.serialNumber',
  authorizerError: '$context.authorizer.error',
});

function invokeUri(fn: lambda.IFunction): string {
  return `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}:lambda:path/2015-03-31/functions/${fn.functionArn}/invocations`;
}

function logsPolicyDocument(logGroup: logs.ILogGroup): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid: 'OwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}`] });
}

/**
 * The authorizer's policy: templates/iam/authorizer-policy.json (mtls+token: authorizer-mtls-token-policy.json,
 * which adds BatchGetItem for the cold start's key set and first client record in one read), plus writing its
 * own log group.
 */
export function authorizerPolicyDocument(table: dynamodb.ITable, logGroup: logs.ILogGroup, mode: AuthorizerMode = 'mtls'): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({ sid: 'ReadCertificateRecords', actions: ['dynamodb:GetItem'], resources: [table.tableArn] }),
      ...(mode === 'mtls+token' ? [new iam.PolicyStatement({ sid: 'ReadTheKeySetWithTheFirstRecord', actions: ['dynamodb:BatchGetItem'], resources: [table.tableArn] })] : []),
      logsPolicyDocument(logGroup),
    ],
  });
}

/** The token function's policy: templates/iam/token-policy.json, plus writing its own log group. */
export function tokenPolicyDocument(table: dynamodb.ITable, logGroup: logs.ILogGroup): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({ sid: 'ReadCertificateRecordsAndTheTokenKeySet', actions: ['dynamodb:GetItem'], resources: [table.tableArn] }),
      new iam.PolicyStatement({
        sid: 'SignAccessTokens',
        actions: ['kms:Sign'],
        resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`],
        conditions: { StringEquals: { 'aws:ResourceTag/ca:name': table.tableName, 'aws:ResourceTag/ca:label': 'token', 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
      }),
      logsPolicyDocument(logGroup),
    ],
  });
}

/** The checks of the authorizer and token props that need no synthesis. @throws Error naming the prop */
function checkAuthorizerProps(mode: AuthorizerMode, env: Record<string, string> | undefined, tokenService: TokenServiceOptions | undefined): void {
  const modes: readonly string[] = ['mtls', 'mtls+token', 'jwt-hs256', 'jwt-jwks', 'spiffe-jwt-svid'];
  if (!modes.includes(mode)) throw new Error(`authorizerMode must be one of ${modes.join(', ')}, not ${JSON.stringify(mode)}`);
  if (env && 'CA_AUTHORIZER_MODE' in env) throw new Error('set the authorizer mode with the authorizerMode prop, not CA_AUTHORIZER_MODE in authorizerEnvironment (the construct sets the variable from the prop)');
  if (!tokenService) return;
  if (mode !== 'mtls' && mode !== 'mtls+token') throw new Error(`tokenService needs authorizerMode mtls or mtls+token, not ${mode}: the API's authorizer would not accept the tokens it issues`);
  const ttl = tokenService.ttlSeconds;
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= 3600)) throw new Error(`tokenService.ttlSeconds must be a whole number from 1 to 3600, not ${ttl}`);
  if (tokenService.routeScopes && mode !== 'mtls+token') throw new Error('tokenService.routeScopes needs authorizerMode mtls+token: only that mode checks the tokens on the API\'s routes');
  const set = mode === 'mtls+token' ? TOKEN_ENV.filter((v) => env && v in env) : [];
  if (set.length) throw new Error(`with tokenService in mtls+token mode, ${set.join(', ')} come from tokenService (one value for the token function and the authorizer): remove them from authorizerEnvironment`);
}

/** The operator policy: templates/iam/ca-cli-policy.json for this store (a test keeps the two equal). */
export function operatorPolicyDocument(o: {
  bucket: s3.IBucket;
  table: dynamodb.ITable;
  truststoreKey: string;
  parameterPrefix: string;
  secureStringKey?: kms.IKey;
  keyCustody: 'ssm' | 'kms';
  /** the token service's signing keys, which `ca token-key rotate` creates in KMS (in kms custody the CA key statements cover them) */
  tokenKeys?: boolean;
}): iam.PolicyDocument {
  const arn = (service: string, resource: string, region: string = Aws.REGION) => `arn:${Aws.PARTITION}:${service}:${region}:${Aws.ACCOUNT_ID}:${resource}`;
  const s = (sid: string, actions: string[], resources: string[], conditions?: Record<string, unknown>) => new iam.PolicyStatement({ sid, actions, resources, conditions });
  const statements = [
    s('TruststoreObject', ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], [o.bucket.arnForObjects(o.truststoreKey)]),
    // the CRLs `ca crl` and `ca revoke` publish beside the truststore (README "Certificate revocation lists")
    s('CrlObjects', ['s3:GetObject', 's3:PutObject'], [o.bucket.arnForObjects('crl/*')]),
    // ListBucket: without it S3 answers a read of a CRL not written yet with AccessDenied instead of NoSuchKey
    s('TruststoreBucket', ['s3:GetBucketVersioning', 's3:ListBucketVersions', 's3:ListBucket'], [o.bucket.bucketArn]),
    s('Registry', ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'], [o.table.tableArn]),
    s('CaKeysAndBundlesInSsm', ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'], [arn('ssm', `parameter${o.parameterPrefix}/*`)]),
  ];
  if (o.secureStringKey) {
    statements.push(s('SecureStringEncryption', ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'], [o.secureStringKey.keyArn], { StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` } }));
  }
  if (o.keyCustody === 'kms') {
    // KmsKeyCustody tags each CA key with ca:name = the table's name
    statements.push(
      s('CaKeysInKmsCreate', ['kms:CreateKey'], ['*'], {
        StringEquals: { 'kms:KeyUsage': 'SIGN_VERIFY', 'aws:RequestTag/ca:name': o.table.tableName },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['ca:name', 'ca:label'] },
      }),
      // the tags CreateKey carries are authorized as kms:TagResource, on every key (KMS "Controlling access to
      // tags"), where kms:KeyUsage is not documented to be in the request context: a statement of its own
      s('CaKeysInKmsTagOnCreate', ['kms:TagResource'], ['*'], {
        StringEquals: { 'aws:RequestTag/ca:name': o.table.tableName },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['ca:name', 'ca:label'] },
      }),
      s('CaKeysInKmsUse', ['kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey', 'kms:ScheduleKeyDeletion', 'kms:ListResourceTags'], [arn('kms', 'key/*')], { StringEquals: { 'aws:ResourceTag/ca:name': o.table.tableName } }),
      // after an interrupted `ca token-key rotate`, the sweep lists the account's keys to find the one it left
      // (then reads tags: a key not tagged with this CA's name answers AccessDenied, and is not ours)
      s('CaKeysInKmsList', ['kms:ListKeys'], ['*']),
    );
  } else if (o.tokenKeys) {
    // KmsTokenKeyCustody (ca token-key rotate): CreateKey ECC_NIST_P256 SIGN_VERIFY tagged ca:name, ca:label = token;
    // then GetPublicKey, DescribeKey + ScheduleKeyDeletion when a retired key is pruned, Sign for `ca gateway` on this store,
    // ListKeys + ListResourceTags for the sweep after an interrupted rotation
    statements.push(
      s('TokenKeysInKmsCreate', ['kms:CreateKey'], ['*'], {
        StringEquals: { 'kms:KeyUsage': 'SIGN_VERIFY', 'kms:KeySpec': 'ECC_NIST_P256', 'aws:RequestTag/ca:name': o.table.tableName, 'aws:RequestTag/ca:label': 'token' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['ca:name', 'ca:label'] },
      }),
      // the tags of CreateKey are authorized as kms:TagResource, whose request has no kms:KeyUsage or kms:KeySpec: its
      // own statement, conditioned on the tags only (a tag ca:label = token lets the token function sign, with
      // a key the key set must also name, which only this operator writes)
      s('TokenKeysInKmsTagOnCreate', ['kms:TagResource'], ['*'], {
        StringEquals: { 'aws:RequestTag/ca:name': o.table.tableName, 'aws:RequestTag/ca:label': 'token' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['ca:name', 'ca:label'] },
      }),
      s('TokenKeysInKmsUse', ['kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey', 'kms:ScheduleKeyDeletion', 'kms:ListResourceTags'], [arn('kms', 'key/*')], { StringEquals: { 'aws:ResourceTag/ca:name': o.table.tableName, 'aws:ResourceTag/ca:label': 'token' } }),
      // the sweep after an interrupted rotation (see CaKeysInKmsList)
      s('TokenKeysInKmsList', ['kms:ListKeys'], ['*']),
    );
  }
  return new iam.PolicyDocument({ statements });
}
