/**
 * Route 53 adapter for the registrar: read what carries our mark, create a health check, apply record
 * changes, delete a health check. Each call has a deadline; failures are AwsCallErrors naming the call.
 */
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  DeleteHealthCheckCommand,
  ListHealthChecksCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
  type HealthCheck,
  type HealthCheckConfig,
  type ListResourceRecordSetsCommandOutput,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { AWS_CLIENT_OPTIONS, callAws, type AwsCallError } from '../aws/call.js';
import { ownedTaskOf, parseCallerReference, type OwnedState, type RegistrarSettings } from './plan.js';

export interface Registry {
  readOwned(): Promise<OwnedState>;
  /** The new (or, for the same CallerReference and config, the existing) health check's id. */
  createHealthCheck(callerReference: string, config: HealthCheckConfig): Promise<string>;
  changeRecords(changes: Change[]): Promise<void>;
  /** A health check that is already gone is not an error. */
  deleteHealthCheck(id: string): Promise<void>;
}

export interface Route53RegistryOptions {
  hostedZoneId: string;
  settings: RegistrarSettings;
  /** Default: `new Route53Client(...)`, so AWS_ENDPOINT_URL_ROUTE_53 and the credential chain apply. */
  client?: Route53Client;
  callTimeoutMs?: number;
}

/** Bounds the paging loops: far past any real zone; a marker that never ends is an error. */
const MAX_PAGES = 200;

export function createRoute53Registry(opts: Route53RegistryOptions): Registry {
  const client = opts.client ?? new Route53Client(AWS_CLIENT_OPTIONS);
  const timeoutMs = opts.callTimeoutMs ?? 10_000;
  const zone = opts.hostedZoneId;
  const { settings } = opts;
  const call = <T>(what: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => callAws(what, timeoutMs, send);

  async function ownedRecords(): Promise<ResourceRecordSet[]> {
    const records: ResourceRecordSet[] = [];
    let start: { name: string; type: 'A'; identifier?: string } | undefined = { name: settings.recordName, type: 'A' };
    for (let page = 1; start !== undefined; page++) {
      if (page > MAX_PAGES) throw new Error(`route53:ListResourceRecordSets kept answering IsTruncated past ${MAX_PAGES} pages`);
      const { name, type, identifier }: { name: string; type: 'A'; identifier?: string } = start;
      const answer: ListResourceRecordSetsCommandOutput = await call('route53:ListResourceRecordSets', (abortSignal) =>
        client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zone,
            StartRecordName: name,
            StartRecordType: type,
            ...(identifier !== undefined && { StartRecordIdentifier: identifier }),
          }),
          { abortSignal },
        ),
      );
      const sets = answer.ResourceRecordSets ?? [];
      // Listing starts at our name and type; the first other name or type ends what is ours.
      const ours = sets.filter((r) => ownedTaskOf(settings, r) !== undefined);
      records.push(...ours);
      const pastOurs = sets.some((r) => r.Type !== 'A' || (r.Name ?? '').toLowerCase() !== settings.recordName);
      start =
        answer.IsTruncated && !pastOurs && answer.NextRecordName?.toLowerCase() === settings.recordName && answer.NextRecordType === 'A'
          ? { name: settings.recordName, type: 'A', ...(answer.NextRecordIdentifier !== undefined && { identifier: answer.NextRecordIdentifier }) }
          : undefined;
    }
    return records;
  }

  async function ownedHealthChecks(): Promise<HealthCheck[]> {
    const checks: HealthCheck[] = [];
    let marker: string | undefined;
    let page = 0;
    do {
      if (++page > MAX_PAGES) throw new Error(`route53:ListHealthChecks kept answering IsTruncated past ${MAX_PAGES} pages`);
      const answer = await call('route53:ListHealthChecks', (abortSignal) =>
        client.send(new ListHealthChecksCommand({ MaxItems: 1000, ...(marker !== undefined && { Marker: marker }) }), { abortSignal }),
      );
      for (const check of answer.HealthChecks ?? []) {
        if (parseCallerReference(settings, check.CallerReference ?? '') !== undefined) checks.push(check);
      }
      marker = answer.IsTruncated ? answer.NextMarker : undefined;
    } while (marker !== undefined);
    return checks;
  }

  return {
    async readOwned() {
      const [records, healthChecks] = await Promise.all([ownedRecords(), ownedHealthChecks()]);
      return { records, healthChecks };
    },
    async createHealthCheck(callerReference, config) {
      const answer = await call('route53:CreateHealthCheck', (abortSignal) =>
        client.send(new CreateHealthCheckCommand({ CallerReference: callerReference, HealthCheckConfig: config }), { abortSignal }),
      );
      const id = answer.HealthCheck?.Id;
      if (id === undefined) throw new Error('route53:CreateHealthCheck answered without a health check id');
      return id;
    },
    async changeRecords(changes) {
      await call('route53:ChangeResourceRecordSets', (abortSignal) =>
        client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone, ChangeBatch: { Changes: changes } }), { abortSignal }),
      );
    },
    async deleteHealthCheck(id) {
      await call('route53:DeleteHealthCheck', (abortSignal) =>
        client.send(new DeleteHealthCheckCommand({ HealthCheckId: id }), { abortSignal }),
      ).catch((err: AwsCallError) => {
        if (err.code !== 'NoSuchHealthCheck') throw err;
      });
    },
  };
}
