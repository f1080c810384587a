/**
 * The Route 53 part of the API emulator: a state machine over hosted zones, resource record sets
 * and health checks that speaks Route 53's REST-XML protocol (API version 2013-04-01), so the real
 * `@aws-sdk/client-route-53` runs unchanged against it. No I/O here: `handle(method, pathname,
 * query, body)` answers one request; ecs-emulator.ts serves it on its port (paths `/2013-04-01/…`),
 * with the call log and fault injection around `parseRequest` + `execute`.
 *
 * Operations: CreateHostedZone, ChangeResourceRecordSets, ListResourceRecordSets, CreateHealthCheck,
 * GetHealthCheck, DeleteHealthCheck, ListHealthChecks. Semantics follow the API reference: atomic
 * change batches, DELETE needs every current value, DNS canonical listing order with name/type/
 * identifier paging, CallerReference idempotency of health checks (deleted references stay taken).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export type Route53Action =
  | 'CreateHostedZone'
  | 'ChangeResourceRecordSets'
  | 'ListResourceRecordSets'
  | 'CreateHealthCheck'
  | 'GetHealthCheck'
  | 'DeleteHealthCheck'
  | 'ListHealthChecks';

export const ROUTE53_ACTIONS: readonly Route53Action[] = [
  'CreateHostedZone',
  'ChangeResourceRecordSets',
  'ListResourceRecordSets',
  'CreateHealthCheck',
  'GetHealthCheck',
  'DeleteHealthCheck',
  'ListHealthChecks',
];

export const ROUTE53_PATH_PREFIX = '/2013-04-01/';
const NAMESPACE = 'https://route53.amazonaws.com/doc/2013-04-01/';
const LOCATION_BASE = 'https://route53.amazonaws.com/2013-04-01';
const CONTENT_TYPE = 'text/xml';
const LIST_RRSETS_DEFAULT = 300;
const LIST_RRSETS_MAX = 300;
const LIST_HEALTH_CHECKS_DEFAULT = 100;
const LIST_HEALTH_CHECKS_MAX = 1000;
const RR_TYPES = ['A', 'AAAA', 'CAA', 'CNAME', 'DS', 'HTTPS', 'MX', 'NAPTR', 'NS', 'PTR', 'SOA', 'SPF', 'SRV', 'SSHFP', 'SVCB', 'TLSA', 'TXT'];
const HEALTH_CHECK_TYPES = ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP', 'CALCULATED', 'CLOUDWATCH_METRIC', 'RECOVERY_CONTROL'];
const ENDPOINT_TYPES = ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP'];

export interface Route53Response {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/** A decoded request: which operation, and its input (path ids, query fields, XML body with lists unwrapped). */
export interface Route53Request {
  action: Route53Action;
  params: Record<string, unknown>;
}

/** A Route 53 error; rendered as `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`. */
export class Route53Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface ResourceRecordSet {
  Name: string;
  Type: string;
  SetIdentifier?: string;
  Weight?: number;
  Region?: string;
  GeoLocation?: { ContinentCode?: string; CountryCode?: string; SubdivisionCode?: string };
  Failover?: string;
  MultiValueAnswer?: boolean;
  TTL?: number;
  ResourceRecords?: { Value: string }[];
  AliasTarget?: { HostedZoneId: string; DNSName: string; EvaluateTargetHealth: boolean };
  HealthCheckId?: string;
}

export interface HealthCheckConfig {
  Type: string;
  IPAddress?: string;
  Port?: number;
  ResourcePath?: string;
  FullyQualifiedDomainName?: string;
  SearchString?: string;
  RequestInterval?: number;
  FailureThreshold?: number;
  MeasureLatency?: boolean;
  Inverted?: boolean;
  Disabled?: boolean;
  HealthThreshold?: number;
  ChildHealthChecks?: string[];
  EnableSNI?: boolean;
  Regions?: string[];
  AlarmIdentifier?: { Region: string; Name: string };
  InsufficientDataHealthStatus?: string;
  RoutingControlArn?: string;
}

export interface HealthCheck {
  Id: string;
  CallerReference: string;
  HealthCheckConfig: HealthCheckConfig;
  HealthCheckVersion: number;
}

export interface HostedZoneSummary {
  Id: string;
  Name: string;
  CallerReference: string;
  ResourceRecordSets: ResourceRecordSet[];
}

interface StoredZone {
  id: string;
  name: string;
  callerReference: string;
  comment?: string;
  privateZone: boolean;
  records: Map<string, ResourceRecordSet>;
}

interface StoredHealthCheck extends HealthCheck {
  seq: number;
  deleted: boolean;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (_name, jpath) => typeof jpath === 'string' && LIST_PATHS.some((suffix) => jpath.endsWith(suffix)),
});

/** List members as the SDK serializes them: wrapper element, then one element per item. */
const LIST_WRAPPERS: Record<string, string> = {
  Changes: 'Change',
  ResourceRecords: 'ResourceRecord',
  ChildHealthChecks: 'ChildHealthCheck',
  Regions: 'Region',
};
const LIST_PATHS = Object.entries(LIST_WRAPPERS).map(([wrapper, item]) => `.${wrapper}.${item}`);

export class Route53 {
  private zones = new Map<string, StoredZone>();
  private checks = new Map<string, StoredHealthCheck>();
  /** CallerReference → health check id, deleted ones included (their references stay taken). */
  private checkRefs = new Map<string, string>();
  private nextSeq = 0;

  reset(): void {
    this.zones = new Map();
    this.checks = new Map();
    this.checkRefs = new Map();
    this.nextSeq = 0;
  }

  // ---- HTTP surface ----

  /** One request in, one answer out (errors included). */
  handle(method: string, pathname: string, query: URLSearchParams, body: string): Route53Response {
    try {
      return this.execute(this.parseRequest(method, pathname, query, body));
    } catch (err) {
      return errorResponse(err);
    }
  }

  /** Routes and decodes a request; throws Route53Error (404 for an unknown route, 400 for bad XML). */
  parseRequest(method: string, pathname: string, query: URLSearchParams, body: string): Route53Request {
    const segments = pathname
      .slice(ROUTE53_PATH_PREFIX.length)
      .split('/')
      .map((s) => safeDecode(s));
    if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop(); // trailing slash (`rrset/`)
    const q = Object.fromEntries(query);
    const [resource, id, sub, extra] = segments;
    if (resource === 'hostedzone') {
      if (id === undefined && method === 'POST') return { action: 'CreateHostedZone', params: this.body(body, 'CreateHostedZoneRequest') };
      if (id !== undefined && sub === 'rrset' && extra === undefined) {
        const HostedZoneId = bareZoneId(id);
        if (method === 'POST') return { action: 'ChangeResourceRecordSets', params: { HostedZoneId, ...this.body(body, 'ChangeResourceRecordSetsRequest') } };
        if (method === 'GET') return { action: 'ListResourceRecordSets', params: { HostedZoneId, ...q } };
      }
    } else if (resource === 'healthcheck' && sub === undefined) {
      if (id === undefined && method === 'POST') return { action: 'CreateHealthCheck', params: this.body(body, 'CreateHealthCheckRequest') };
      if (id === undefined && method === 'GET') return { action: 'ListHealthChecks', params: q };
      if (id !== undefined && method === 'GET') return { action: 'GetHealthCheck', params: { HealthCheckId: id } };
      if (id !== undefined && method === 'DELETE') return { action: 'DeleteHealthCheck', params: { HealthCheckId: id } };
    }
    throw new Route53Error(404, 'UnknownOperation', `The emulator does not implement ${method} ${pathname}`);
  }

  execute(request: Route53Request): Route53Response {
    const p = request.params;
    switch (request.action) {
      case 'CreateHostedZone':
        return this.createHostedZoneOp(p);
      case 'ChangeResourceRecordSets':
        return this.changeResourceRecordSets(p);
      case 'ListResourceRecordSets':
        return this.listResourceRecordSets(p);
      case 'CreateHealthCheck':
        return this.createHealthCheck(p);
      case 'GetHealthCheck':
        return ok('GetHealthCheckResponse', healthCheckXml(this.liveCheck(String(p.HealthCheckId))));
      case 'DeleteHealthCheck': {
        const check = this.liveCheck(String(p.HealthCheckId));
        // As AWS: no check for record sets that still name it (their routing becomes unpredictable).
        check.deleted = true;
        return ok('DeleteHealthCheckResponse', '');
      }
      case 'ListHealthChecks':
        return this.listHealthChecks(p);
    }
  }

  // ---- inspection ----

  /** Creates a zone as CreateHostedZone does (apex SOA and NS); returns the bare id ("Z…"). */
  createHostedZone(name: string, callerReference: string = randomUUID()): string {
    const zoneName = normalizeName(name);
    if (zoneName === '.') throw new Route53Error(400, 'InvalidDomainName', 'The domain name is invalid');
    if ([...this.zones.values()].some((z) => z.callerReference === callerReference)) {
      throw new Route53Error(409, 'HostedZoneAlreadyExists', 'A hosted zone has already been created with the specified caller reference.');
    }
    const id = `Z${randomId(20)}`;
    const ns = nameServers();
    const records = new Map<string, ResourceRecordSet>();
    const apexNs: ResourceRecordSet = { Name: zoneName, Type: 'NS', TTL: 172800, ResourceRecords: ns.map((n) => ({ Value: `${n}.` })) };
    const soa: ResourceRecordSet = {
      Name: zoneName,
      Type: 'SOA',
      TTL: 900,
      ResourceRecords: [{ Value: `${ns[0]}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400` }],
    };
    records.set(recordKey(apexNs), apexNs);
    records.set(recordKey(soa), soa);
    this.zones.set(id, { id, name: zoneName, callerReference, privateZone: false, records });
    return id;
  }

  /** The zone's record sets in ListResourceRecordSets order (names as Route 53 presents them). */
  recordSets(zoneId: string): ResourceRecordSet[] {
    return sortedRecords(this.zone(zoneId)).map(presentRecord);
  }

  /** Live health checks, in creation order. */
  healthChecks(): HealthCheck[] {
    return this.liveChecks().map(({ Id, CallerReference, HealthCheckConfig, HealthCheckVersion }) =>
      structuredClone({ Id, CallerReference, HealthCheckConfig, HealthCheckVersion }),
    );
  }

  hostedZones(): HostedZoneSummary[] {
    return [...this.zones.values()].map((z) => ({
      Id: `/hostedzone/${z.id}`,
      Name: z.name,
      CallerReference: z.callerReference,
      ResourceRecordSets: this.recordSets(z.id),
    }));
  }

  // ---- operations ----

  private createHostedZoneOp(p: Record<string, unknown>): Route53Response {
    const name = requiredString(p, 'Name');
    const callerReference = requiredString(p, 'CallerReference');
    const id = this.createHostedZone(name, callerReference);
    const zone = this.zones.get(id)!;
    const config = isObject(p.HostedZoneConfig) ? p.HostedZoneConfig : {};
    if (typeof config.Comment === 'string') zone.comment = config.Comment;
    zone.privateZone = config.PrivateZone === 'true';
    const nsValues = zone.records.get(recordKey({ Name: zone.name, Type: 'NS' }))!.ResourceRecords!.map((r) => r.Value.replace(/\.$/, ''));
    const body =
      hostedZoneXml(zone) +
      changeInfoXml(newChangeId(), undefined) +
      `<DelegationSet><NameServers>${nsValues.map((n) => el('NameServer', n)).join('')}</NameServers></DelegationSet>`;
    return ok('CreateHostedZoneResponse', body, 201, { location: `${LOCATION_BASE}/hostedzone/${id}` });
  }

  private changeResourceRecordSets(p: Record<string, unknown>): Route53Response {
    const zone = this.zone(String(p.HostedZoneId));
    const batch = p.ChangeBatch;
    if (!isObject(batch)) throw invalidInput('Invalid request: Missing field \'ChangeBatch\'');
    const rawChanges = batch.Changes;
    if (!Array.isArray(rawChanges) || rawChanges.length === 0) throw invalidInput("Invalid request: Missing field 'Changes' or it is empty");
    const changes = rawChanges.map((raw) => this.parseChange(raw));

    // Applied in order to a copy: all or nothing, every failing change reported.
    const records = new Map(zone.records);
    const messages: string[] = [];
    for (const { action, rrset } of changes) {
      const describe = describeSet(rrset);
      if (!withinZone(rrset.Name, zone.name)) {
        messages.push(`RRSet with DNS name ${presentName(rrset.Name)} is not permitted in zone ${presentName(zone.name)}`);
        continue;
      }
      const key = recordKey(rrset);
      const current = records.get(key);
      if (action === 'CREATE' && current) {
        messages.push(`Tried to create resource record set ${describe} but it already exists`);
        continue;
      }
      if (action === 'DELETE') {
        if (!current) messages.push(`Tried to delete resource record set ${describe} but it was not found`);
        else if (canonical(current) !== canonical(rrset)) messages.push(`Tried to delete resource record set ${describe} but the values provided do not match the current values`);
        else records.delete(key);
        continue;
      }
      const conflict = conflictOf(rrset, records, zone.name);
      if (conflict) {
        messages.push(conflict);
        continue;
      }
      records.set(key, rrset);
    }
    const apex = [...records.values()].filter((r) => r.Name === zone.name);
    if (!apex.some((r) => r.Type === 'SOA')) messages.push('A HostedZone must contain exactly one SOA record.');
    if (!apex.some((r) => r.Type === 'NS')) messages.push('A HostedZone must contain at least one NS record for the zone itself.');
    if (messages.length > 0) throw new Route53Error(400, 'InvalidChangeBatch', `[${messages.join(', ')}]`);

    zone.records = records;
    const comment = typeof batch.Comment === 'string' ? batch.Comment : undefined;
    return ok('ChangeResourceRecordSetsResponse', changeInfoXml(newChangeId(), comment));
  }

  private parseChange(raw: unknown): { action: string; rrset: ResourceRecordSet } {
    if (!isObject(raw)) throw invalidInput('Invalid request: Change must be an element');
    const action = requiredString(raw, 'Action');
    if (!['CREATE', 'DELETE', 'UPSERT'].includes(action)) throw invalidInput(`Invalid request: Action '${action}' is not one of CREATE, DELETE, UPSERT`);
    if (!isObject(raw.ResourceRecordSet)) throw invalidInput("Invalid request: Missing field 'ResourceRecordSet'");
    const rrset = parseRecordSet(raw.ResourceRecordSet);
    const where = `in Change with [Action=${action}, Name=${presentName(rrset.Name)}, Type=${rrset.Type}, SetIdentifier=${rrset.SetIdentifier ?? 'null'}]`;
    const plain = rrset.TTL !== undefined || rrset.ResourceRecords !== undefined;
    if (rrset.AliasTarget !== undefined ? plain : rrset.TTL === undefined || rrset.ResourceRecords === undefined) {
      throw invalidInput(`Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found ${plain && rrset.AliasTarget ? 'more than one' : 'none'} ${where}`);
    }
    const policies = [rrset.Weight, rrset.Region, rrset.GeoLocation, rrset.Failover, rrset.MultiValueAnswer].filter((v) => v !== undefined).length;
    if (rrset.SetIdentifier !== undefined && policies !== 1) {
      throw invalidInput(
        `Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found ${policies === 0 ? 'none' : 'more than one'} ${where}`,
      );
    }
    if (rrset.SetIdentifier === undefined && policies > 0) throw invalidInput(`Invalid request: Missing field 'SetIdentifier' ${where}`);
    if (rrset.Weight !== undefined && (rrset.Weight < 0 || rrset.Weight > 255)) throw invalidInput(`Invalid request: Weight must be between 0 and 255 ${where}`);
    if (rrset.TTL !== undefined && (rrset.TTL < 0 || rrset.TTL > 2147483647)) throw invalidInput(`Invalid request: TTL must be between 0 and 2147483647 ${where}`);
    if (rrset.ResourceRecords?.length === 0) throw invalidInput(`Invalid request: ResourceRecords must not be empty ${where}`);
    for (const { Value } of rrset.ResourceRecords ?? []) {
      if ((rrset.Type === 'A' && !isIPv4(Value)) || (rrset.Type === 'AAAA' && !isIPv6(Value))) {
        const code = rrset.Type === 'A' ? 'ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)' : 'AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)';
        throw new Route53Error(400, 'InvalidChangeBatch', `[Invalid Resource Record: 'FATAL problem: ${code} encountered with '${Value}'']`);
      }
    }
    if (rrset.HealthCheckId !== undefined) {
      const check = this.checks.get(rrset.HealthCheckId);
      if (!check || check.deleted) throw new Route53Error(404, 'NoSuchHealthCheck', `No health check exists with the specified ID ${rrset.HealthCheckId}`);
    }
    return { action, rrset };
  }

  private listResourceRecordSets(p: Record<string, unknown>): Route53Response {
    const zone = this.zone(String(p.HostedZoneId));
    const maxItems = parseMaxItems(p.maxitems, LIST_RRSETS_DEFAULT, LIST_RRSETS_MAX);
    const startName = typeof p.name === 'string' ? normalizeName(p.name) : undefined;
    const startType = typeof p.type === 'string' ? p.type : undefined;
    const startId = typeof p.identifier === 'string' ? p.identifier : undefined;
    if (startType !== undefined && startName === undefined) throw invalidInput('Invalid request: type specified without name');
    if (startType !== undefined && !RR_TYPES.includes(startType)) throw invalidInput(`Invalid request: type '${startType}' is not a valid record type`);
    if (startId !== undefined && startType === undefined) throw invalidInput('Invalid request: identifier specified without name and type');
    const all = sortedRecords(zone);
    let from = 0;
    if (startName !== undefined) {
      const start = [sortKey(startName), startType ?? '', startId ?? ''] as const;
      from = all.findIndex((r) => compareKeys(orderOf(r), start) >= 0);
      if (from === -1) from = all.length;
    }
    const page = all.slice(from, from + maxItems);
    const next = all[from + maxItems];
    let body = `<ResourceRecordSets>${page.map((r) => rrsetXml(presentRecord(r))).join('')}</ResourceRecordSets>${el('IsTruncated', next !== undefined)}`;
    if (next) body += el('NextRecordName', presentName(next.Name)) + el('NextRecordType', next.Type) + el('NextRecordIdentifier', next.SetIdentifier);
    body += el('MaxItems', maxItems);
    return ok('ListResourceRecordSetsResponse', body);
  }

  private createHealthCheck(p: Record<string, unknown>): Route53Response {
    const callerReference = requiredString(p, 'CallerReference');
    if (!isObject(p.HealthCheckConfig)) throw invalidInput("Invalid request: Missing field 'HealthCheckConfig'");
    const config = parseHealthCheckConfig(p.HealthCheckConfig);
    const existingId = this.checkRefs.get(callerReference);
    if (existingId !== undefined) {
      const existing = this.checks.get(existingId)!;
      // Same reference and settings as a live check: that check again. A deleted check's reference, or other settings: an error.
      if (existing.deleted || canonical(existing.HealthCheckConfig) !== canonical(config)) {
        throw new Route53Error(409, 'HealthCheckAlreadyExists', 'A different health check has already been created with the specified caller reference.');
      }
      return ok('CreateHealthCheckResponse', healthCheckXml(existing), 201, { location: `${LOCATION_BASE}/healthcheck/${existing.Id}` });
    }
    const check: StoredHealthCheck = { Id: randomUUID(), CallerReference: callerReference, HealthCheckConfig: config, HealthCheckVersion: 1, seq: this.nextSeq++, deleted: false };
    this.checks.set(check.Id, check);
    this.checkRefs.set(callerReference, check.Id);
    return ok('CreateHealthCheckResponse', healthCheckXml(check), 201, { location: `${LOCATION_BASE}/healthcheck/${check.Id}` });
  }

  private listHealthChecks(p: Record<string, unknown>): Route53Response {
    const maxItems = parseMaxItems(p.maxitems, LIST_HEALTH_CHECKS_DEFAULT, LIST_HEALTH_CHECKS_MAX);
    const marker = typeof p.marker === 'string' && p.marker !== '' ? p.marker : undefined;
    const live = this.liveChecks();
    let from = 0;
    if (marker !== undefined) {
      // The marker is the id of the first check of the page; it may have been deleted since.
      const at = this.checks.get(marker);
      if (!at) throw invalidInput(`Invalid request: marker '${marker}' does not name a health check`);
      from = live.findIndex((c) => c.seq >= at.seq);
      if (from === -1) from = live.length;
    }
    const page = live.slice(from, from + maxItems);
    const next = live[from + maxItems];
    const body =
      `<HealthChecks>${page.map((c) => healthCheckXml(c)).join('')}</HealthChecks>` +
      el('Marker', marker ?? '') +
      el('IsTruncated', next !== undefined) +
      el('NextMarker', next?.Id) +
      el('MaxItems', maxItems);
    return ok('ListHealthChecksResponse', body);
  }

  // ---- lookups ----

  private zone(id: string): StoredZone {
    const bare = bareZoneId(id);
    const zone = this.zones.get(bare);
    if (!zone) throw new Route53Error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${bare}`);
    return zone;
  }

  private liveCheck(id: string): StoredHealthCheck {
    const check = this.checks.get(id);
    if (!check || check.deleted) throw new Route53Error(404, 'NoSuchHealthCheck', `A health check with id ${id} does not exist.`);
    return check;
  }

  private liveChecks(): StoredHealthCheck[] {
    return [...this.checks.values()].filter((c) => !c.deleted).sort((a, b) => a.seq - b.seq);
  }

  /** Parses an XML request body whose root must be `root`; lists come back as arrays. */
  private body(text: string, root: string): Record<string, unknown> {
    if (text.trim() === '') throw invalidInput(`Invalid XML ; expected element ${root}`);
    const valid = XMLValidator.validate(text);
    if (valid !== true) throw invalidInput(`Invalid XML ; ${valid.err.msg}`);
    const doc = parser.parse(text) as Record<string, unknown>;
    const value = doc[root];
    if (!isObject(value)) throw invalidInput(`Invalid XML ; expected element ${root}`);
    return unwrapLists(value) as Record<string, unknown>;
  }
}

// ---- record sets ----

/** Lower case, `\ddd` escapes decoded, trailing dot: the form names are compared in. */
export function normalizeName(raw: string): string {
  let name = raw.trim().toLowerCase().replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  if (!name.endsWith('.')) name += '.';
  return name;
}

/** As Route 53 returns names: characters other than a-z, 0-9, '-', '_' and '.' as `\ddd` octal escapes (e.g. `*` → `\052`). */
function presentName(name: string): string {
  return name.replace(/[^a-z0-9\-_.]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function withinZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

function recordKey(r: Pick<ResourceRecordSet, 'Name' | 'Type' | 'SetIdentifier'>): string {
  return JSON.stringify([r.Name, r.Type, r.SetIdentifier ?? null]);
}

function describeSet(r: ResourceRecordSet): string {
  const id = r.SetIdentifier === undefined ? '' : `, set-identifier='${r.SetIdentifier}'`;
  return `[name='${presentName(r.Name)}', type='${r.Type}'${id}]`;
}

/** DNS canonical order: the name's labels reversed (`com.example.www.`), then type, then set identifier. */
function sortKey(name: string): string {
  const presented = presentName(name);
  return presented === '.' ? '.' : `${presented.slice(0, -1).split('.').reverse().join('.')}.`;
}

function orderOf(r: ResourceRecordSet): readonly [string, string, string] {
  return [sortKey(r.Name), r.Type, r.SetIdentifier ?? ''];
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

function sortedRecords(zone: StoredZone): ResourceRecordSet[] {
  return [...zone.records.values()].sort((a, b) => compareKeys(orderOf(a), orderOf(b)));
}

function presentRecord(r: ResourceRecordSet): ResourceRecordSet {
  const copy = structuredClone(r);
  copy.Name = presentName(r.Name);
  return copy;
}

/** Every value of a set, order-insensitive for its records: what DELETE must match and config identity. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (Array.isArray(v)) return [...v].map((x) => JSON.stringify(x)).sort();
    if (isObject(v)) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return v;
  });
}

/** What Route 53 refuses when a set would sit beside others: CNAME beside anything, simple beside routed sets. */
function conflictOf(rrset: ResourceRecordSet, records: Map<string, ResourceRecordSet>, zoneName: string): string | undefined {
  const key = recordKey(rrset);
  const sameName = [...records.values()].filter((r) => r.Name === rrset.Name && recordKey(r) !== key);
  const name = presentName(rrset.Name);
  if (sameName.some((r) => r.Type !== rrset.Type) && (rrset.Type === 'CNAME' || sameName.some((r) => r.Type === 'CNAME'))) {
    return `RRSet of type CNAME with DNS name ${name} is not permitted as it conflicts with other records with the same DNS name in zone ${presentName(zoneName)}`;
  }
  const sameType = sameName.filter((r) => r.Type === rrset.Type);
  if (rrset.SetIdentifier !== undefined && sameType.some((r) => r.SetIdentifier === undefined)) {
    return `RRSet with DNS name ${name}, type ${rrset.Type}, SetIdentifier ${rrset.SetIdentifier} cannot be created as a non-weighted set exists with the same name and type.`;
  }
  if (rrset.SetIdentifier === undefined && sameType.length > 0) {
    return `RRSet with DNS name ${name}, type ${rrset.Type} cannot be created as other RRSets exist with the same name and type.`;
  }
  return undefined;
}

const RRSET_FIELDS = ['Name', 'Type', 'SetIdentifier', 'Weight', 'Region', 'GeoLocation', 'Failover', 'MultiValueAnswer', 'TTL', 'ResourceRecords', 'AliasTarget', 'HealthCheckId'];

function parseRecordSet(raw: Record<string, unknown>): ResourceRecordSet {
  for (const key of Object.keys(raw)) {
    if (!RRSET_FIELDS.includes(key)) throw invalidInput(`Invalid request: the emulator does not support ${key} in ResourceRecordSet`);
  }
  const type = requiredString(raw, 'Type');
  if (!RR_TYPES.includes(type)) throw invalidInput(`Invalid request: '${type}' is not a valid record type`);
  const rrset: ResourceRecordSet = { Name: normalizeName(requiredString(raw, 'Name')), Type: type };
  const setIdentifier = optionalString(raw, 'SetIdentifier');
  if (setIdentifier !== undefined) rrset.SetIdentifier = setIdentifier;
  const weight = optionalInt(raw, 'Weight');
  if (weight !== undefined) rrset.Weight = weight;
  const region = optionalString(raw, 'Region');
  if (region !== undefined) rrset.Region = region;
  if (isObject(raw.GeoLocation)) rrset.GeoLocation = raw.GeoLocation as ResourceRecordSet['GeoLocation'];
  const failover = optionalString(raw, 'Failover');
  if (failover !== undefined) rrset.Failover = failover;
  const multi = optionalBool(raw, 'MultiValueAnswer');
  if (multi !== undefined) rrset.MultiValueAnswer = multi;
  const ttl = optionalInt(raw, 'TTL');
  if (ttl !== undefined) rrset.TTL = ttl;
  if (raw.ResourceRecords !== undefined) {
    if (!Array.isArray(raw.ResourceRecords)) throw invalidInput('Invalid request: ResourceRecords must be a list');
    rrset.ResourceRecords = raw.ResourceRecords.map((r) => {
      if (!isObject(r) || typeof r.Value !== 'string') throw invalidInput("Invalid request: Missing field 'Value' in ResourceRecord");
      return { Value: r.Value };
    });
  }
  if (raw.AliasTarget !== undefined) {
    if (!isObject(raw.AliasTarget)) throw invalidInput('Invalid request: AliasTarget must be an element');
    rrset.AliasTarget = {
      HostedZoneId: requiredString(raw.AliasTarget, 'HostedZoneId'),
      DNSName: normalizeName(requiredString(raw.AliasTarget, 'DNSName')),
      EvaluateTargetHealth: optionalBool(raw.AliasTarget, 'EvaluateTargetHealth') ?? false,
    };
  }
  const healthCheckId = optionalString(raw, 'HealthCheckId');
  if (healthCheckId !== undefined) rrset.HealthCheckId = healthCheckId;
  return rrset;
}

// ---- health checks ----

function parseHealthCheckConfig(raw: Record<string, unknown>): HealthCheckConfig {
  const type = requiredString(raw, 'Type');
  if (!HEALTH_CHECK_TYPES.includes(type)) throw invalidInput(`Invalid parameter : Type '${type}' is not one of ${HEALTH_CHECK_TYPES.join(', ')}`);
  const config: HealthCheckConfig = { Type: type };
  const strings = ['IPAddress', 'ResourcePath', 'FullyQualifiedDomainName', 'SearchString', 'InsufficientDataHealthStatus', 'RoutingControlArn'] as const;
  for (const key of strings) {
    const value = optionalString(raw, key);
    if (value !== undefined) config[key] = value;
  }
  for (const key of ['Port', 'RequestInterval', 'FailureThreshold', 'HealthThreshold'] as const) {
    const value = optionalInt(raw, key);
    if (value !== undefined) config[key] = value;
  }
  for (const key of ['MeasureLatency', 'Inverted', 'Disabled', 'EnableSNI'] as const) {
    const value = optionalBool(raw, key);
    if (value !== undefined) config[key] = value;
  }
  for (const key of ['ChildHealthChecks', 'Regions'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalidInput(`Invalid parameter : ${key} must be a list of strings`);
    config[key] = value as string[];
  }
  if (isObject(raw.AlarmIdentifier)) config.AlarmIdentifier = { Region: requiredString(raw.AlarmIdentifier, 'Region'), Name: requiredString(raw.AlarmIdentifier, 'Name') };

  if (ENDPOINT_TYPES.includes(type)) {
    if (config.IPAddress === undefined && config.FullyQualifiedDomainName === undefined) {
      throw invalidInput('Invalid parameter : A health check of this type needs an IPAddress or a FullyQualifiedDomainName');
    }
    if (config.IPAddress !== undefined && !isIPv4(config.IPAddress) && !isIPv6(config.IPAddress)) throw invalidInput(`Invalid parameter : IPAddress '${config.IPAddress}' is not valid`);
    if (type.endsWith('_STR_MATCH') && config.SearchString === undefined) throw invalidInput('Invalid parameter : SearchString is required for this health check type');
    // The documented defaults, so a retry that states them and one that leaves them out are the same settings.
    config.RequestInterval ??= 30;
    config.FailureThreshold ??= 3;
    config.MeasureLatency ??= false;
  }
  config.Inverted ??= false;
  config.Disabled ??= false;
  if (config.Port !== undefined && (config.Port < 1 || config.Port > 65535)) throw invalidInput('Invalid parameter : Port must be between 1 and 65535');
  if (config.RequestInterval !== undefined && config.RequestInterval !== 10 && config.RequestInterval !== 30) throw invalidInput('Invalid parameter : RequestInterval must be 10 or 30');
  if (config.FailureThreshold !== undefined && (config.FailureThreshold < 1 || config.FailureThreshold > 10)) throw invalidInput('Invalid parameter : FailureThreshold must be between 1 and 10');
  return config;
}

// ---- XML out ----

function ok(root: string, inner: string, status = 200, headers?: Record<string, string>): Route53Response {
  const response: Route53Response = { status, contentType: CONTENT_TYPE, body: `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${NAMESPACE}">${inner}</${root}>` };
  if (headers) response.headers = headers;
  return response;
}

/** The answer for any error; other exceptions become InternalFailure. */
export function errorResponse(err: unknown): Route53Response {
  const e = err instanceof Route53Error ? err : new Route53Error(500, 'InternalFailure', err instanceof Error ? err.message : String(err));
  const type = e.status >= 500 ? 'Receiver' : 'Sender';
  return {
    status: e.status,
    contentType: CONTENT_TYPE,
    body: `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type>${el('Code', e.code)}${el('Message', e.message)}</Error>${el('RequestId', randomUUID())}</ErrorResponse>`,
  };
}

function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${esc(String(value))}</${name}>`;
}

function esc(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function hostedZoneXml(zone: StoredZone): string {
  return (
    `<HostedZone>${el('Id', `/hostedzone/${zone.id}`)}${el('Name', presentName(zone.name))}${el('CallerReference', zone.callerReference)}` +
    `<Config>${el('Comment', zone.comment)}${el('PrivateZone', zone.privateZone)}</Config>${el('ResourceRecordSetCount', zone.records.size)}</HostedZone>`
  );
}

function changeInfoXml(id: string, comment: string | undefined): string {
  // Changes apply at once here, so they are INSYNC from the start (AWS answers PENDING first).
  return `<ChangeInfo>${el('Id', `/change/${id}`)}${el('Status', 'INSYNC')}${el('SubmittedAt', new Date().toISOString())}${el('Comment', comment)}</ChangeInfo>`;
}

function rrsetXml(r: ResourceRecordSet): string {
  const geo = r.GeoLocation
    ? `<GeoLocation>${el('ContinentCode', r.GeoLocation.ContinentCode)}${el('CountryCode', r.GeoLocation.CountryCode)}${el('SubdivisionCode', r.GeoLocation.SubdivisionCode)}</GeoLocation>`
    : '';
  const records = r.ResourceRecords ? `<ResourceRecords>${r.ResourceRecords.map((v) => `<ResourceRecord>${el('Value', v.Value)}</ResourceRecord>`).join('')}</ResourceRecords>` : '';
  const alias = r.AliasTarget
    ? `<AliasTarget>${el('HostedZoneId', r.AliasTarget.HostedZoneId)}${el('DNSName', presentName(r.AliasTarget.DNSName))}${el('EvaluateTargetHealth', r.AliasTarget.EvaluateTargetHealth)}</AliasTarget>`
    : '';
  return (
    `<ResourceRecordSet>${el('Name', r.Name)}${el('Type', r.Type)}${el('SetIdentifier', r.SetIdentifier)}${el('Weight', r.Weight)}${el('Region', r.Region)}${geo}` +
    `${el('Failover', r.Failover)}${el('MultiValueAnswer', r.MultiValueAnswer)}${el('TTL', r.TTL)}${records}${alias}${el('HealthCheckId', r.HealthCheckId)}</ResourceRecordSet>`
  );
}

function healthCheckXml(c: HealthCheck): string {
  const h = c.HealthCheckConfig;
  const list = (wrapper: string, item: string, values: string[] | undefined) => (values ? `<${wrapper}>${values.map((v) => el(item, v)).join('')}</${wrapper}>` : '');
  const alarm = h.AlarmIdentifier ? `<AlarmIdentifier>${el('Region', h.AlarmIdentifier.Region)}${el('Name', h.AlarmIdentifier.Name)}</AlarmIdentifier>` : '';
  const config =
    `${el('Type', h.Type)}${el('IPAddress', h.IPAddress)}${el('Port', h.Port)}${el('ResourcePath', h.ResourcePath)}${el('FullyQualifiedDomainName', h.FullyQualifiedDomainName)}` +
    `${el('SearchString', h.SearchString)}${el('RequestInterval', h.RequestInterval)}${el('FailureThreshold', h.FailureThreshold)}${el('MeasureLatency', h.MeasureLatency)}` +
    `${el('Inverted', h.Inverted)}${el('Disabled', h.Disabled)}${el('HealthThreshold', h.HealthThreshold)}${list('ChildHealthChecks', 'ChildHealthCheck', h.ChildHealthChecks)}` +
    `${el('EnableSNI', h.EnableSNI)}${list('Regions', 'Region', h.Regions)}${alarm}${el('InsufficientDataHealthStatus', h.InsufficientDataHealthStatus)}${el('RoutingControlArn', h.RoutingControlArn)}`;
  return `<HealthCheck>${el('Id', c.Id)}${el('CallerReference', c.CallerReference)}<HealthCheckConfig>${config}</HealthCheckConfig>${el('HealthCheckVersion', c.HealthCheckVersion)}</HealthCheck>`;
}

// ---- small helpers ----

function invalidInput(message: string): Route53Error {
  return new Route53Error(400, 'InvalidInput', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `<Changes><Change/>…</Changes>` → `Changes: [...]`, recursively; an empty wrapper is an empty list. */
function unwrapLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapLists);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const item = LIST_WRAPPERS[key];
    if (item !== undefined && (child === '' || (isObject(child) && Array.isArray(child[item])))) {
      out[key] = child === '' ? [] : unwrapLists((child as Record<string, unknown>)[item]);
    } else {
      out[key] = unwrapLists(child);
    }
  }
  return out;
}

function requiredString(obj: Record<string, unknown>, key: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value === '') throw invalidInput(`Invalid request: Missing field '${key}'`);
  return value;
}

function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidInput(`Invalid request: ${key} must be a string`);
  return value;
}

function optionalInt(obj: Record<string, unknown>, key: string): number | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw invalidInput(`Invalid request: ${key} must be an integer`);
  return Number(value);
}

function optionalBool(obj: Record<string, unknown>, key: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw invalidInput(`Invalid request: ${key} must be true or false`);
  return value === 'true';
}

function parseMaxItems(value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1) throw invalidInput('Invalid request: maxitems must be a positive integer');
  return Math.min(Number(value), max);
}

/** Zone ids arrive bare ("Z…", as the SDK sends them) or with their `/hostedzone/` prefix. */
function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function randomId(length: number): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

function newChangeId(): string {
  return `C${randomId(20)}`;
}

function nameServers(): string[] {
  const n = randomBytes(4);
  const server = (i: number) => `ns-${(n[i]! * 4 + i) % 2048}.awsdns-${String(n[i]! % 64).padStart(2, '0')}`;
  return [`${server(0)}.com`, `${server(1)}.net`, `${server(2)}.org`, `${server(3)}.co.uk`];
}
