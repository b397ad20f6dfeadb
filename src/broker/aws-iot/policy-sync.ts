import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  type IoTClient,
  ListPolicyVersionsCommand,
  type PolicyVersion,
} from '@aws-sdk/client-iot';
import { isAwsError } from './aws-errors';
import { samePolicyDocument } from './policies';

/** IoT keeps at most this many versions of a policy. */
export const MAX_POLICY_VERSIONS = 5;

/** Attempts at adding a version when other instances race us for the version slots. */
const VERSION_ATTEMPTS = 3;

export type PolicySyncResult = 'created' | 'updated' | 'unchanged';

/**
 * Makes the named policy's default version say `document`: creates the policy
 * when missing; when its default version differs, adds a new default version,
 * first deleting the oldest non-default version when IoT's limit of five is
 * reached. Safe to run from several instances at once.
 */
export async function syncPolicy(iot: IoTClient, policyName: string, document: string): Promise<PolicySyncResult> {
  let current = await currentDocument(iot, policyName);
  if (current === undefined) {
    try {
      await iot.send(new CreatePolicyCommand({ policyName, policyDocument: document }));
      return 'created';
    } catch (error) {
      // Another instance created it first: go on with the version check.
      if (!isAwsError(error, 'ResourceAlreadyExistsException')) {
        throw error;
      }
      current = await currentDocument(iot, policyName);
      if (current === undefined) {
        throw error;
      }
    }
  }
  if (samePolicyDocument(current, document)) {
    return 'unchanged';
  }
  for (let attempt = 1; ; attempt++) {
    await pruneVersions(iot, policyName);
    try {
      await iot.send(new CreatePolicyVersionCommand({ policyName, policyDocument: document, setAsDefault: true }));
      return 'updated';
    } catch (error) {
      // Another instance took the slot we freed; prune again.
      if (!isAwsError(error, 'VersionsLimitExceededException') || attempt >= VERSION_ATTEMPTS) {
        throw error;
      }
    }
  }
}

async function currentDocument(iot: IoTClient, policyName: string): Promise<string | undefined> {
  try {
    const policy = await iot.send(new GetPolicyCommand({ policyName }));
    return policy.policyDocument ?? '';
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) {
      return undefined;
    }
    throw error;
  }
}

/** Frees a version slot when all five are taken, by deleting the oldest non-default version. */
async function pruneVersions(iot: IoTClient, policyName: string): Promise<void> {
  const listed = await iot.send(new ListPolicyVersionsCommand({ policyName }));
  const versions = listed.policyVersions ?? [];
  if (versions.length < MAX_POLICY_VERSIONS) {
    return;
  }
  const oldest = versions.filter((version) => !version.isDefaultVersion).sort(byAge)[0];
  if (oldest?.versionId === undefined) {
    return;
  }
  try {
    await iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId: oldest.versionId }));
  } catch (error) {
    // Another instance deleted it already.
    if (!isAwsError(error, 'ResourceNotFoundException')) {
      throw error;
    }
  }
}

function byAge(a: PolicyVersion, b: PolicyVersion): number {
  const time = (a.createDate?.getTime() ?? 0) - (b.createDate?.getTime() ?? 0);
  return time !== 0 ? time : Number(a.versionId ?? 0) - Number(b.versionId ?? 0);
}
