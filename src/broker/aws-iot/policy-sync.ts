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

/** Attempts at adding a version while other instances race us for the version slots. */
const VERSION_ATTEMPTS = 5;
/** Upper bound of the random pause between two attempts, so racing instances fall out of step. */
const RETRY_PAUSE_MS = 200;

/**
 * `updated-elsewhere`: another instance made the default version say the same
 * document while this one was trying to (nothing left to do).
 */
export type PolicySyncResult = 'created' | 'updated' | 'updated-elsewhere' | 'unchanged';

/**
 * Makes the named policy's default version say `document`, and is safe to run
 * from any number of instances at once (two tasks starting together, or a
 * channel edit on one while another starts):
 * - compares the default version's document first, and writes nothing when it
 *   already says the same (so N instances starting with one channel table add
 *   no versions);
 * - creates the policy when missing (another instance creating it first is fine);
 * - adds a new default version, first deleting the oldest non-default version
 *   when IoT's limit of five is reached; when another instance took the slot
 *   (VersionsLimitExceeded), re-reads the default and stops if it now says the
 *   same document, else frees a slot again and retries.
 * IoT has no compare-and-set on policies, so two instances writing the same
 * document at the same moment may each add a version: harmless (same rules;
 * old versions are pruned). Two instances writing different documents: the
 * last writer wins, and the catalog re-sync (AwsIotBroker) puts the stored
 * channel table's rules back within the catalog's refresh bound.
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
      if (!isAwsError(error, 'VersionsLimitExceededException')) {
        throw error;
      }
      // Another instance took the slot we freed: if it was writing this very document, we are done.
      const now = await currentDocument(iot, policyName);
      if (now !== undefined && samePolicyDocument(now, document)) {
        return 'updated-elsewhere';
      }
      if (attempt >= VERSION_ATTEMPTS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * RETRY_PAUSE_MS));
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

/**
 * Frees a version slot when all five are taken, by deleting the oldest non-default version. A version
 * another instance deleted first (not found) or one that can't go (DeleteConflict: it became the
 * default meanwhile) is skipped for the next oldest.
 */
async function pruneVersions(iot: IoTClient, policyName: string): Promise<void> {
  const listed = await iot.send(new ListPolicyVersionsCommand({ policyName }));
  const versions = listed.policyVersions ?? [];
  if (versions.length < MAX_POLICY_VERSIONS) {
    return;
  }
  const candidates = versions.filter((version) => !version.isDefaultVersion && version.versionId !== undefined).sort(byAge);
  for (const oldest of candidates) {
    try {
      await iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId: oldest.versionId }));
      return;
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFoundException')) {
        // Another instance deleted it: a slot is free (or that instance takes it, and the create retries).
        return;
      }
      if (!isAwsError(error, 'DeleteConflictException')) {
        throw error;
      }
    }
  }
}

function byAge(a: PolicyVersion, b: PolicyVersion): number {
  const time = (a.createDate?.getTime() ?? 0) - (b.createDate?.getTime() ?? 0);
  return time !== 0 ? time : Number(a.versionId ?? 0) - Number(b.versionId ?? 0);
}
