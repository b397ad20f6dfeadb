import { DescribeEndpointCommand, IoTClient, type IoTClientConfig } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, type IoTDataPlaneClientConfig } from '@aws-sdk/client-iot-data-plane';
import type { AppConfig } from '../../config/app-config';

/** The two AWS SDK clients the AWS IoT driver talks through. */
export interface IotClients {
  /** Control plane: policies, certificates, things, DescribeEndpoint. */
  iot: IoTClient;
  /** Data plane: Publish, DeleteConnection. */
  data: IoTDataPlaneClient;
}

/** Per-client config merged over the defaults; tests use it for a local endpoint and static credentials. */
export interface IotClientOverrides {
  iot?: Partial<IoTClientConfig>;
  data?: Partial<IoTDataPlaneClientConfig>;
}

type DataPlaneEndpoint = IoTDataPlaneClientConfig['endpoint'];

const CONNECTION_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Builds the IoT clients. Credentials come from the SDK's default chain (ECS
 * task role, environment, profile); `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_IOT`
 * and `AWS_ENDPOINT_URL_IOT_DATA_PLANE` are read by the SDK itself, so no
 * `endpoint` is passed where one of them applies. Throttling and 5xx answers are
 * retried by the SDK (standard mode: exponential backoff with jitter).
 */
export function createIotClients(config: AppConfig, overrides: IotClientOverrides = {}): IotClients {
  const common = {
    region: config.aws.region,
    maxAttempts: config.broker.iot.maxAttempts,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  };
  const iot = new IoTClient({ ...common, ...overrides.iot });
  const data = new IoTDataPlaneClient({
    ...common,
    endpoint: dataPlaneEndpoint(config, () => describeDataEndpoint(iot)),
    ...overrides.data,
  });
  return { iot, data };
}

/**
 * Where iot-data requests go. AWS asks production code to use the account's
 * own ATS endpoint (what DescribeEndpoint returns) rather than the SDK's generic
 * `data-ats.iot.<region>` default; IOT_DATA_ENDPOINT overrides it, and an SDK
 * endpoint variable overrides both (undefined: let the SDK resolve it).
 */
export function dataPlaneEndpoint(config: AppConfig, describe: () => Promise<string>): DataPlaneEndpoint {
  const sdk = config.aws.endpointUrls;
  if (sdk?.iotDataPlane !== undefined || sdk?.default !== undefined) {
    return undefined;
  }
  const fixed = config.broker.iot.dataEndpoint;
  if (fixed !== undefined) {
    return { url: new URL(`https://${fixed}`) };
  }
  return async () => ({ url: new URL(`https://${await describe()}`) });
}

const described = new WeakMap<IoTClient, Promise<string>>();

/**
 * The account's `iot:Data-ATS` host, asked once per client (it never changes for
 * an account and region); a failed call is not cached.
 */
export function describeDataEndpoint(iot: IoTClient): Promise<string> {
  let pending = described.get(iot);
  if (pending === undefined) {
    pending = iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })).then((out) => {
      if (!out.endpointAddress) {
        throw new Error('DescribeEndpoint returned no endpointAddress');
      }
      return out.endpointAddress;
    });
    pending.catch(() => described.delete(iot));
    described.set(iot, pending);
  }
  return pending;
}
