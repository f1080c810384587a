/**
 * The SQS part of the API emulator: standard queues as a state machine that speaks the protocol the
 * current `@aws-sdk/client-sqs` uses, AWS JSON 1.0 (`POST /`, `X-Amz-Target: AmazonSQS.<Op>`,
 * content-type `application/x-amz-json-1.0`), so the real client runs unchanged against it.
 * ecs-emulator.ts serves it on its port, with the call log and fault injection around `execute`.
 *
 * Operations: CreateQueue, GetQueueUrl, DeleteQueue, ListQueues, GetQueueAttributes,
 * SetQueueAttributes, PurgeQueue, SendMessage, SendMessageBatch, ReceiveMessage (long polling),
 * DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility.
 *
 * Errors go out as SQS sends them in JSON mode: `{"__type": "com.amazonaws.sqs#QueueDoesNotExist",
 * "message": …}` plus the `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender` header.
 * The client is "awsQueryCompatible": it takes the error code from that header first and maps it back
 * to the modelled exception, so `err.name` is `QueueDoesNotExist`; unmodelled codes
 * (InvalidParameterValue, AccessDenied, MissingParameter) keep the header's code as their name.
 *
 * Semantics as in the API reference: queue URL `http://<Host header>/<account>/<name>` (the host the
 * client used, so the SDK's "QueueUrl differs from endpoint" check stays quiet); CreateQueue is
 * idempotent for the same attributes, QueueNameExists otherwise, QueueDeletedRecently within 60 s of
 * a DeleteQueue; a message is invisible for its visibility timeout after each receive and comes back
 * if not deleted; DeleteMessage with a receipt handle older than the message's latest receive
 * succeeds without deleting (AWS: "might not be deleted"); ReceiveMessage long-polls: it answers as
 * soon as a message is visible, else when WaitTimeSeconds ends (timers and wake-ups, no polling loop).
 * MaximumMessageSize defaults to 1 MiB as the SDK model documents for today's SQS (it was 256 KiB
 * before 2025); a queue created with MaximumMessageSize=262144 enforces the old limit.
 * Not emulated: FIFO queues, dead-letter redrive, KMS, tags beyond CreateQueue, policy evaluation.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

export type SqsAction =
  | 'CreateQueue'
  | 'GetQueueUrl'
  | 'DeleteQueue'
  | 'ListQueues'
  | 'GetQueueAttributes'
  | 'SetQueueAttributes'
  | 'PurgeQueue'
  | 'SendMessage'
  | 'SendMessageBatch'
  | 'ReceiveMessage'
  | 'DeleteMessage'
  | 'DeleteMessageBatch'
  | 'ChangeMessageVisibility';

export const SQS_ACTIONS: readonly SqsAction[] = [
  'CreateQueue',
  'GetQueueUrl',
  'DeleteQueue',
  'ListQueues',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'PurgeQueue',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
];

export const SQS_TARGET_PREFIX = 'AmazonSQS.';
export const SQS_CONTENT_TYPE = 'application/x-amz-json-1.0';

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
const DELETED_RECENTLY_MS = 60_000;
const MAX_BATCH = 10;
const MAX_SIZE_LIMIT = 1_048_576;
const LIST_QUEUES_MAX = 1000;

/** Settable attributes: [default, min, max] for the numeric ones. */
const NUMERIC_ATTRIBUTES: Record<string, [number, number, number]> = {
  DelaySeconds: [0, 0, 900],
  MaximumMessageSize: [MAX_SIZE_LIMIT, 1024, MAX_SIZE_LIMIT],
  MessageRetentionPeriod: [345_600, 60, 1_209_600],
  ReceiveMessageWaitTimeSeconds: [0, 0, 20],
  VisibilityTimeout: [30, 0, 43_200],
};
const STRING_ATTRIBUTES = ['Policy', 'RedrivePolicy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled', 'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds'];
const READ_ONLY_ATTRIBUTES = [
  'QueueArn',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
];
const SYSTEM_ATTRIBUTES = ['SenderId', 'SentTimestamp', 'ApproximateReceiveCount', 'ApproximateFirstReceiveTimestamp'];

/** An SQS error: `code` is the modelled shape name (→ `__type`), `queryCode` goes in `x-amzn-query-error`. */
export class SqsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly queryCode: string = code,
    readonly namespace: string = 'com.amazonaws.sqs',
  ) {
    super(message);
  }
}

export const queueDoesNotExist = () =>
  new SqsError(400, 'QueueDoesNotExist', 'The specified queue does not exist.', 'AWS.SimpleQueueService.NonExistentQueue');
const invalidParameter = (message: string) => new SqsError(400, 'InvalidParameterValue', message);
const missingParameter = (name: string) => new SqsError(400, 'MissingParameter', `The request must contain the parameter ${name}.`);

/** The HTTP answer for an error, as SQS sends it in JSON mode. */
export function sqsErrorResponse(err: SqsError): { status: number; headers: Record<string, string>; body: string } {
  return {
    status: err.status,
    headers: {
      'content-type': SQS_CONTENT_TYPE,
      'x-amzn-requestid': randomUUID(),
      'x-amzn-query-error': `${err.queryCode};${err.status >= 500 ? 'Receiver' : 'Sender'}`,
    },
    body: JSON.stringify({ __type: `${err.namespace}#${err.code}`, message: err.message }),
  };
}

export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  /** Base64, as JSON carries blobs. */
  BinaryValue?: string;
}

interface StoredMessage {
  messageId: string;
  body: string;
  md5: string;
  attributes?: Record<string, MessageAttributeValue>;
  sentAt: number;
  /** When it is next visible (ms): after its delay, or after the visibility timeout of its last receive. */
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** The latest receive's handle; older handles no longer delete it. */
  receiptHandle?: string;
}

interface StoredQueue {
  name: string;
  arn: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
  createdAt: number;
  modifiedAt: number;
  messages: StoredMessage[];
  waiters: Set<() => void>;
}

/** What GET /_emulator/sqs and `queues()` show. */
export interface QueueSummary {
  name: string;
  arn: string;
  url: string;
  attributes: Record<string, string>;
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface SqsContext {
  /** The Host header of the request (queue URLs are built on it). */
  host: string;
  /** Aborted when the emulator closes or the client goes away: ends a long poll. */
  signal: AbortSignal;
}

export class Sqs {
  private queues = new Map<string, StoredQueue>();
  private deletedAt = new Map<string, number>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  reset(): void {
    const old = [...this.queues.values()];
    this.queues = new Map();
    this.deletedAt = new Map();
    for (const queue of old) wakeAll(queue);
  }

  queueArn(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  queueUrl(host: string, name: string): string {
    return `http://${host}/${this.accountId}/${name}`;
  }

  // ---- direct API (tests, main.ts) ----

  /** Creates (or returns) a queue as CreateQueue does; returns its name. */
  createQueue(name: string, attributes: Record<string, string> = {}, tags: Record<string, string> = {}): string {
    if (!QUEUE_NAME.test(name)) {
      throw invalidParameter(`Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length`);
    }
    const given = validateAttributes(attributes);
    const existing = this.queues.get(name);
    if (existing) {
      for (const [key, value] of Object.entries(given)) {
        if (existing.attributes[key] !== value) {
          throw new SqsError(400, 'QueueNameExists', `A queue already exists with the same name and a different value for attribute ${key}`, 'QueueAlreadyExists');
        }
      }
      return name;
    }
    const deleted = this.deletedAt.get(name);
    if (deleted !== undefined && Date.now() - deleted < DELETED_RECENTLY_MS) {
      throw new SqsError(
        400,
        'QueueDeletedRecently',
        'You must wait 60 seconds after deleting a queue before you can create another with the same name.',
        'AWS.SimpleQueueService.QueueDeletedRecently',
      );
    }
    const defaults = Object.fromEntries(Object.entries(NUMERIC_ATTRIBUTES).map(([key, [value]]) => [key, String(value)]));
    const now = Date.now();
    this.queues.set(name, {
      name,
      arn: this.queueArn(name),
      attributes: { ...defaults, SqsManagedSseEnabled: 'true', ...given },
      tags: { ...tags },
      createdAt: now,
      modifiedAt: now,
      messages: [],
      waiters: new Set(),
    });
    return name;
  }

  /** Sends `body` to the queue with this ARN (SNS fan-out, ECS events); false when there is no such queue. */
  sendToArn(queueArn: string, body: string): boolean {
    const queue = [...this.queues.values()].find((q) => q.arn === queueArn);
    if (!queue) return false;
    this.enqueue(queue, body, undefined, 0);
    return true;
  }

  hasQueueArn(queueArn: string): boolean {
    return [...this.queues.values()].some((q) => q.arn === queueArn);
  }

  summaries(host: string): QueueSummary[] {
    return [...this.queues.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((q) => {
        const counts = this.counts(q);
        return { name: q.name, arn: q.arn, url: this.queueUrl(host, q.name), attributes: { ...q.attributes }, ...counts };
      });
  }

  // ---- operations ----

  async execute(action: string, p: Record<string, unknown>, ctx: SqsContext): Promise<Record<string, unknown>> {
    switch (action as SqsAction) {
      case 'CreateQueue': {
        const name = requiredString(p, 'QueueName');
        this.createQueue(name, stringMap(p.Attributes, 'Attributes'), stringMap(p.tags, 'tags'));
        return { QueueUrl: this.queueUrl(ctx.host, name) };
      }
      case 'GetQueueUrl': {
        const name = requiredString(p, 'QueueName');
        const owner = p.QueueOwnerAWSAccountId;
        if ((owner !== undefined && owner !== this.accountId) || !this.queues.has(name)) throw queueDoesNotExist();
        return { QueueUrl: this.queueUrl(ctx.host, name) };
      }
      case 'DeleteQueue': {
        const queue = this.queue(p);
        this.queues.delete(queue.name);
        this.deletedAt.set(queue.name, Date.now());
        wakeAll(queue);
        return {};
      }
      case 'ListQueues':
        return this.listQueues(p, ctx.host);
      case 'GetQueueAttributes':
        return this.getQueueAttributes(p);
      case 'SetQueueAttributes': {
        const queue = this.queue(p);
        const attributes = validateAttributes(stringMap(p.Attributes, 'Attributes'));
        Object.assign(queue.attributes, attributes);
        queue.modifiedAt = Date.now();
        return {};
      }
      case 'PurgeQueue':
        this.queue(p).messages = [];
        return {};
      case 'SendMessage':
        return this.sendMessage(p);
      case 'SendMessageBatch':
        return this.sendMessageBatch(p);
      case 'ReceiveMessage':
        return this.receiveMessage(p, ctx.signal);
      case 'DeleteMessage':
        this.deleteMessage(this.queue(p), requiredString(p, 'ReceiptHandle'));
        return {};
      case 'DeleteMessageBatch':
        return this.deleteMessageBatch(p);
      case 'ChangeMessageVisibility':
        return this.changeMessageVisibility(p);
      default:
        throw new SqsError(400, 'UnsupportedOperation', `The emulator does not implement ${action}`, 'AWS.SimpleQueueService.UnsupportedOperation');
    }
  }

  private queue(p: Record<string, unknown>): StoredQueue {
    const url = requiredString(p, 'QueueUrl');
    let segments: string[];
    try {
      segments = new URL(url).pathname.split('/').filter((s) => s !== '');
    } catch {
      throw new SqsError(404, 'InvalidAddress', `The address ${url} is not valid for this endpoint.`);
    }
    const [account, name] = segments;
    const queue = segments.length === 2 && account === this.accountId ? this.queues.get(name!) : undefined;
    if (!queue) throw queueDoesNotExist();
    return queue;
  }

  private counts(queue: StoredQueue): { visible: number; inFlight: number; delayed: number } {
    this.expire(queue);
    const now = Date.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of queue.messages) {
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Drops messages past the queue's retention period. */
  private expire(queue: StoredQueue): void {
    const cutoff = Date.now() - Number(queue.attributes.MessageRetentionPeriod) * 1000;
    if (queue.messages.some((m) => m.sentAt < cutoff)) queue.messages = queue.messages.filter((m) => m.sentAt >= cutoff);
  }

  private listQueues(p: Record<string, unknown>, host: string): Record<string, unknown> {
    const prefix = optionalString(p, 'QueueNamePrefix') ?? '';
    const max = optionalInt(p, 'MaxResults');
    if (max !== undefined && (max < 1 || max > LIST_QUEUES_MAX)) {
      throw invalidParameter(`Value ${max} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and ${LIST_QUEUES_MAX}.`);
    }
    const token = optionalString(p, 'NextToken');
    if (token !== undefined && max === undefined) throw invalidParameter('MaxResults is a mandatory parameter when you provide a value for NextToken.');
    const names = [...this.queues.keys()].filter((n) => n.startsWith(prefix)).sort();
    let start = 0;
    if (token !== undefined) {
      const after = Buffer.from(token, 'base64url').toString('utf8');
      if (!after.startsWith('after:')) throw invalidParameter('Invalid NextToken value.');
      start = names.findIndex((n) => n > after.slice('after:'.length));
      if (start < 0) start = names.length;
    }
    const page = names.slice(start, start + (max ?? LIST_QUEUES_MAX));
    const result: Record<string, unknown> = {};
    if (page.length > 0) result.QueueUrls = page.map((n) => this.queueUrl(host, n));
    if (max !== undefined && start + page.length < names.length) {
      result.NextToken = Buffer.from(`after:${page[page.length - 1]!}`).toString('base64url');
    }
    return result;
  }

  private getQueueAttributes(p: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queue(p);
    const names = optionalStringList(p, 'AttributeNames') ?? [];
    const all = names.includes('All');
    const known = [...Object.keys(NUMERIC_ATTRIBUTES), ...STRING_ATTRIBUTES, ...READ_ONLY_ATTRIBUTES];
    for (const name of names) {
      if (name !== 'All' && !known.includes(name)) throw new SqsError(400, 'InvalidAttributeName', `Unknown Attribute ${name}.`);
    }
    const counts = this.counts(queue);
    const values: Record<string, string> = {
      ...queue.attributes,
      QueueArn: queue.arn,
      ApproximateNumberOfMessages: String(counts.visible),
      ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
      ApproximateNumberOfMessagesDelayed: String(counts.delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.modifiedAt / 1000)),
    };
    const selected = Object.fromEntries(Object.entries(values).filter(([key]) => all || names.includes(key)));
    return Object.keys(selected).length === 0 ? {} : { Attributes: selected };
  }

  // ---- messages ----

  private enqueue(queue: StoredQueue, body: string, attributes: Record<string, MessageAttributeValue> | undefined, delaySeconds: number): StoredMessage {
    const now = Date.now();
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5: md5Hex(body),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    if (attributes !== undefined && Object.keys(attributes).length > 0) message.attributes = attributes;
    queue.messages.push(message);
    wakeAll(queue);
    return message;
  }

  /** Checks one message (SendMessage or a batch entry); returns its body, attributes and delay. */
  private checkMessage(queue: StoredQueue, entry: Record<string, unknown>) {
    const body = entry.MessageBody;
    if (typeof body !== 'string' || body === '') throw missingParameter('MessageBody');
    const limit = Number(queue.attributes.MaximumMessageSize);
    const attributes = messageAttributes(entry.MessageAttributes);
    const size = Buffer.byteLength(body) + attributesSize(attributes);
    if (size > limit) throw invalidParameter(`One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`);
    if (/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(body)) {
      throw new SqsError(400, 'InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF');
    }
    const delay = optionalInt(entry, 'DelaySeconds') ?? Number(queue.attributes.DelaySeconds);
    if (delay < 0 || delay > 900) throw invalidParameter(`Value ${delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`);
    return { body, attributes, delay, size };
  }

  private sent(message: StoredMessage): Record<string, unknown> {
    const out: Record<string, unknown> = { MessageId: message.messageId, MD5OfMessageBody: message.md5 };
    if (message.attributes) out.MD5OfMessageAttributes = attributesMd5(message.attributes);
    return out;
  }

  private sendMessage(p: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queue(p);
    const { body, attributes, delay } = this.checkMessage(queue, p);
    return this.sent(this.enqueue(queue, body, attributes, delay));
  }

  private batchEntries(p: Record<string, unknown>): Record<string, unknown>[] {
    const entries = p.Entries;
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new SqsError(400, 'EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.', 'AWS.SimpleQueueService.EmptyBatchRequest');
    }
    if (entries.length > MAX_BATCH) {
      throw new SqsError(400, 'TooManyEntriesInBatchRequest', `Maximum number of entries per request are ${MAX_BATCH}. You have sent ${entries.length}.`, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest');
    }
    const ids = new Set<string>();
    for (const entry of entries as Record<string, unknown>[]) {
      const id = entry?.Id;
      if (typeof id !== 'string' || !BATCH_ID.test(id)) {
        throw new SqsError(400, 'InvalidBatchEntryId', 'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.', 'AWS.SimpleQueueService.InvalidBatchEntryId');
      }
      if (ids.has(id)) throw new SqsError(400, 'BatchEntryIdsNotDistinct', `Id ${id} repeated.`, 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct');
      ids.add(id);
    }
    return entries as Record<string, unknown>[];
  }

  private sendMessageBatch(p: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queue(p);
    const entries = this.batchEntries(p);
    const checked: { id: string; ok?: ReturnType<Sqs['checkMessage']>; error?: SqsError }[] = entries.map((entry) => {
      try {
        return { id: entry.Id as string, ok: this.checkMessage(queue, entry) };
      } catch (err) {
        if (err instanceof SqsError) return { id: entry.Id as string, error: err };
        throw err;
      }
    });
    const total = checked.reduce((sum, c) => sum + (c.ok?.size ?? 0), 0);
    const limit = Number(queue.attributes.MaximumMessageSize);
    if (total > limit) {
      throw new SqsError(400, 'BatchRequestTooLong', `Batch requests cannot be longer than ${limit} bytes. You have sent ${total} bytes.`, 'AWS.SimpleQueueService.BatchRequestTooLong');
    }
    const Successful: unknown[] = [];
    const Failed: unknown[] = [];
    for (const c of checked) {
      if (c.ok) Successful.push({ Id: c.id, ...this.sent(this.enqueue(queue, c.ok.body, c.ok.attributes, c.ok.delay)) });
      else Failed.push({ Id: c.id, SenderFault: true, Code: c.error!.queryCode, Message: c.error!.message });
    }
    return { Successful, Failed };
  }

  private async receiveMessage(p: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    let queue = this.queue(p);
    const max = optionalInt(p, 'MaxNumberOfMessages') ?? 1;
    if (max < 1 || max > MAX_BATCH) {
      throw invalidParameter(`Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`);
    }
    const wait = optionalInt(p, 'WaitTimeSeconds') ?? Number(queue.attributes.ReceiveMessageWaitTimeSeconds);
    if (wait < 0 || wait > 20) throw invalidParameter(`Value ${wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`);
    const visibility = optionalInt(p, 'VisibilityTimeout');
    if (visibility !== undefined && (visibility < 0 || visibility > 43_200)) {
      throw invalidParameter(`Value ${visibility} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.`);
    }
    const systemNames = [...(optionalStringList(p, 'MessageSystemAttributeNames') ?? []), ...(optionalStringList(p, 'AttributeNames') ?? [])];
    const attributeNames = optionalStringList(p, 'MessageAttributeNames') ?? [];
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const taken = this.take(queue, max, visibility ?? Number(queue.attributes.VisibilityTimeout));
      if (taken.length > 0) return { Messages: taken.map((m) => this.received(m, systemNames, attributeNames)) };
      if (Date.now() >= deadline || signal.aborted) return {};
      await this.nextChance(queue, deadline, signal);
      if (signal.aborted) return {};
      queue = this.queue(p); // deleted or reset while waiting: QueueDoesNotExist
    }
  }

  /** Resolves when a message may have become available: a send, the earliest hidden message's time, the deadline, or abort. */
  private nextChance(queue: StoredQueue, deadline: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const hidden = queue.messages.map((m) => m.visibleAt).filter((t) => t > Date.now());
      const until = Math.min(deadline, ...hidden);
      const done = () => {
        clearTimeout(timer);
        queue.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, until - Date.now()));
      queue.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private take(queue: StoredQueue, max: number, visibilitySeconds: number): StoredMessage[] {
    this.expire(queue);
    const now = Date.now();
    const taken: StoredMessage[] = [];
    for (const m of queue.messages) {
      if (taken.length >= max) break;
      if (m.visibleAt > now) continue;
      m.receiveCount += 1;
      m.firstReceiveAt ??= now;
      m.receiptHandle = Buffer.from(JSON.stringify({ q: queue.name, m: m.messageId, r: randomBytes(12).toString('base64url') })).toString('base64url');
      m.visibleAt = now + visibilitySeconds * 1000;
      taken.push(m);
    }
    return taken;
  }

  private received(m: StoredMessage, systemNames: string[], attributeNames: string[]): Record<string, unknown> {
    const out: Record<string, unknown> = { MessageId: m.messageId, ReceiptHandle: m.receiptHandle, MD5OfBody: m.md5, Body: m.body };
    const all = systemNames.includes('All');
    const values: Record<string, string> = {
      SenderId: this.accountId,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt),
    };
    const attrs = Object.fromEntries(SYSTEM_ATTRIBUTES.filter((n) => all || systemNames.includes(n)).map((n) => [n, values[n]!]));
    if (Object.keys(attrs).length > 0) out.Attributes = attrs;
    if (m.attributes && attributeNames.length > 0) {
      const wanted = Object.fromEntries(
        Object.entries(m.attributes).filter(([name]) =>
          attributeNames.some((w) => w === 'All' || w === '.*' || w === name || (w.endsWith('.*') && name.startsWith(w.slice(0, -1)))),
        ),
      );
      if (Object.keys(wanted).length > 0) {
        out.MessageAttributes = wanted;
        out.MD5OfMessageAttributes = attributesMd5(wanted);
      }
    }
    return out;
  }

  /** The message a receipt handle names, if it is that message's latest handle; throws for a malformed handle. */
  private byHandle(queue: StoredQueue, handle: string): StoredMessage | undefined {
    let decoded: { q?: unknown; m?: unknown };
    try {
      decoded = JSON.parse(Buffer.from(handle, 'base64url').toString('utf8')) as { q?: unknown; m?: unknown };
    } catch {
      decoded = {};
    }
    if (typeof decoded.m !== 'string' || decoded.q !== queue.name) {
      throw new SqsError(404, 'ReceiptHandleIsInvalid', `The input receipt handle "${handle}" is not a valid receipt handle.`);
    }
    return queue.messages.find((m) => m.messageId === decoded.m && m.receiptHandle === handle);
  }

  private deleteMessage(queue: StoredQueue, handle: string): void {
    const message = this.byHandle(queue, handle);
    if (message) queue.messages = queue.messages.filter((m) => m !== message);
  }

  private deleteMessageBatch(p: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queue(p);
    const Successful: unknown[] = [];
    const Failed: unknown[] = [];
    for (const entry of this.batchEntries(p)) {
      try {
        if (typeof entry.ReceiptHandle !== 'string') throw missingParameter('ReceiptHandle');
        this.deleteMessage(queue, entry.ReceiptHandle);
        Successful.push({ Id: entry.Id });
      } catch (err) {
        if (!(err instanceof SqsError)) throw err;
        Failed.push({ Id: entry.Id, SenderFault: true, Code: err.queryCode, Message: err.message });
      }
    }
    return { Successful, Failed };
  }

  private changeMessageVisibility(p: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queue(p);
    const handle = requiredString(p, 'ReceiptHandle');
    const seconds = optionalInt(p, 'VisibilityTimeout');
    if (seconds === undefined) throw missingParameter('VisibilityTimeout');
    if (seconds < 0 || seconds > 43_200) throw invalidParameter(`Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.`);
    const message = this.byHandle(queue, handle);
    if (!message || message.receiveCount === 0 || message.visibleAt <= Date.now()) {
      throw new SqsError(400, 'MessageNotInflight', 'The message referred to is not in flight.', 'AWS.SimpleQueueService.MessageNotInflight');
    }
    message.visibleAt = Date.now() + seconds * 1000;
    wakeAll(queue); // waiters re-arm their timers on the new time
    return {};
  }
}

// ---- helpers ----

function wakeAll(queue: StoredQueue): void {
  for (const wake of [...queue.waiters]) wake();
}

export function md5Hex(value: string | Buffer): string {
  return createHash('md5').update(value).digest('hex');
}

function validateAttributes(input: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    const range = NUMERIC_ATTRIBUTES[key];
    if (range) {
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(n >= range[1] && n <= range[2])) throw new SqsError(400, 'InvalidAttributeValue', `Invalid value for the parameter ${key}.`);
      out[key] = String(n);
    } else if (key === 'Policy' || key === 'RedrivePolicy' || key === 'RedriveAllowPolicy') {
      try {
        JSON.parse(value);
      } catch {
        throw new SqsError(400, 'InvalidAttributeValue', `Invalid value for the parameter ${key}.`);
      }
      out[key] = value;
    } else if (STRING_ATTRIBUTES.includes(key)) {
      out[key] = value;
    } else if (key === 'FifoQueue' || key === 'ContentBasedDeduplication') {
      throw new SqsError(400, 'InvalidAttributeName', `The emulator has no FIFO queues (attribute ${key}).`);
    } else {
      throw new SqsError(400, 'InvalidAttributeName', `Unknown Attribute ${key}.`);
    }
  }
  return out;
}

function messageAttributes(value: unknown): Record<string, MessageAttributeValue> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParameter('MessageAttributes must be a map.');
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, raw] of Object.entries(value as Record<string, Record<string, unknown>>)) {
    const type = raw?.DataType;
    if (typeof type !== 'string' || !/^(String|Number|Binary)(\..+)?$/.test(type)) {
      throw invalidParameter(`The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`);
    }
    const attr: MessageAttributeValue = { DataType: type };
    if (type.startsWith('Binary')) {
      if (typeof raw.BinaryValue !== 'string') throw invalidParameter(`The message attribute '${name}' with type 'Binary' must use field 'Binary'.`);
      attr.BinaryValue = raw.BinaryValue;
    } else {
      if (typeof raw.StringValue !== 'string') throw invalidParameter(`The message attribute '${name}' with type '${type}' must use field 'String'.`);
      attr.StringValue = raw.StringValue;
    }
    out[name] = attr;
  }
  return out;
}

function attributesSize(attributes: Record<string, MessageAttributeValue> | undefined): number {
  let size = 0;
  for (const [name, a] of Object.entries(attributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(a.DataType);
    size += a.BinaryValue !== undefined ? Buffer.from(a.BinaryValue, 'base64').length : Buffer.byteLength(a.StringValue ?? '');
  }
  return size;
}

/** MD5OfMessageAttributes as SQS computes it: names sorted, each field length-prefixed (4 bytes, big-endian). */
export function attributesMd5(attributes: Record<string, MessageAttributeValue>): string {
  const parts: Buffer[] = [];
  const prefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name]!;
    prefixed(Buffer.from(name, 'utf8'));
    prefixed(Buffer.from(a.DataType, 'utf8'));
    if (a.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      prefixed(Buffer.from(a.BinaryValue, 'base64'));
    } else {
      parts.push(Buffer.from([1]));
      prefixed(Buffer.from(a.StringValue ?? '', 'utf8'));
    }
  }
  return md5Hex(Buffer.concat(parts));
}

function requiredString(p: Record<string, unknown>, key: string): string {
  const value = p[key];
  if (value === undefined || value === null || value === '') throw missingParameter(key);
  if (typeof value !== 'string') throw invalidParameter(`Value for parameter ${key} is invalid. Reason: must be a string.`);
  return value;
}

function optionalString(p: Record<string, unknown>, key: string): string | undefined {
  return p[key] === undefined || p[key] === null ? undefined : requiredString(p, key);
}

function optionalInt(p: Record<string, unknown>, key: string): number | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidParameter(`Value ${String(value)} for parameter ${key} is invalid. Reason: must be an integer.`);
  return value;
}

function optionalStringList(p: Record<string, unknown>, key: string): string[] | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalidParameter(`${key} must be a list of strings.`);
  return value as string[];
}

function stringMap(value: unknown, key: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalidParameter(`${key} must be a map of strings.`);
  }
  return value as Record<string, string>;
}
