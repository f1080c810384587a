// What a failed AWS SDK call rejects with, for tests that expect one.
import assert from 'node:assert/strict';

export type SdkError = Error & { name: string; $fault?: string; $metadata: { httpStatusCode?: number; attempts?: number } };

/** The error the call rejects with; fails the test if it succeeds. */
export async function sdkError(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (err) {
    return err as SdkError;
  }
  assert.fail('the call succeeded, expected an error');
}
