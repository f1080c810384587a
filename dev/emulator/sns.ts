/**
 * A sliver of SNS for the API emulator: topics with SQS subscriptions, speaking SNS's query protocol
 * (`POST /` with a form body `Action=…&Version=2010-03-31`, XML answers in
 * `<XResponse><XResult>…</XResult><ResponseMetadata/></XResponse>`, errors in
 * `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`), so the real
 * `@aws-sdk/client-sns` runs unchanged against it. No I/O: ecs-emulator.ts dispatches form bodies by
 * their Action (EC2 shares the form encoding on the same port) and puts the call log and faults around
 * `execute`; delivery goes through the `deliver(queueArn, body)` callback (the emulator's SQS).
 *
 * Operations: CreateTopic, DeleteTopic, ListTopics, Subscribe (Protocol `sqs` only, confirmed at once),
 * Unsubscribe, ListSubscriptionsByTopic (100 per page), Publish (fans out to every `sqs` subscription
 * whose queue exists: RawMessageDelivery=true → the message itself as the body, otherwise SNS's JSON
 * envelope {Type: "Notification", MessageId, TopicArn, Subject?, Message, Timestamp, SignatureVersion,
 * Signature, SigningCertURL, UnsubscribeURL}; the signature is random bytes, not verifiable).
 * Not emulated: queue policies are NOT evaluated (real SNS delivers only if the queue's Policy lets
 * sns.amazonaws.com SendMessage; here every subscribed queue gets the message), filter policies,
 * message attributes, FIFO topics, other protocols.
 */
import { randomBytes, randomUUID } from 'node:crypto';

export type SnsAction = 'CreateTopic' | 'DeleteTopic' | 'ListTopics' | 'Subscribe' | 'Unsubscribe' | 'ListSubscriptionsByTopic' | 'Publish';

export const SNS_ACTIONS: readonly SnsAction[] = ['CreateTopic', 'DeleteTopic', 'ListTopics', 'Subscribe', 'Unsubscribe', 'ListSubscriptionsByTopic', 'Publish'];

const NAMESPACE = 'http://sns.amazonaws.com/doc/2010-03-31/';
const TOPIC_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const PAGE_SIZE = 100;
const MAX_MESSAGE_BYTES = 262_144;
const SUBSCRIPTION_ATTRIBUTES = ['RawMessageDelivery'];

/** An SNS error: `code` is the query error code (`NotFound`, `InvalidParameter`…), which the SDK maps to its exception. */
export class SnsError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export const snsNotFound = (what = 'Topic') => new SnsError(404, 'NotFound', `${what} does not exist`);
const invalidParameter = (message: string) => new SnsError(400, 'InvalidParameter', `Invalid parameter: ${message}`);

export interface SnsResponse {
  status: number;
  contentType: string;
  body: string;
}

export function snsErrorResponse(err: SnsError): SnsResponse {
  const type = err.status >= 500 ? 'Receiver' : 'Sender';
  return {
    status: err.status,
    contentType: 'text/xml',
    body: `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  };
}

interface Subscription {
  arn: string;
  topicArn: string;
  protocol: 'sqs';
  endpoint: string;
  raw: boolean;
}

interface Topic {
  arn: string;
  name: string;
  attributes: Record<string, string>;
  subscriptions: Map<string, Subscription>;
}

export interface TopicSummary {
  arn: string;
  subscriptions: { arn: string; endpoint: string; raw: boolean }[];
}

export class Sns {
  private topics = new Map<string, Topic>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
    /** Sends a body to the SQS queue with this ARN; false when there is no such queue. */
    private readonly deliver: (queueArn: string, body: string) => boolean,
  ) {}

  reset(): void {
    this.topics = new Map();
  }

  topicArn(name: string): string {
    return `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
  }

  /** CreateTopic's semantics: idempotent by name; returns the ARN. */
  createTopic(name: string): string {
    if (!TOPIC_NAME.test(name)) {
      throw invalidParameter('Topic Name must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.');
    }
    const arn = this.topicArn(name);
    if (!this.topics.has(arn)) this.topics.set(arn, { arn, name, attributes: {}, subscriptions: new Map() });
    return arn;
  }

  hasTopic(arn: string): boolean {
    return this.topics.has(arn);
  }

  /** Subscribes an SQS queue (by ARN); idempotent for the same topic and queue. */
  subscribe(topicArn: string, queueArn: string, raw = false): string {
    const topic = this.topic(topicArn);
    if (!/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$/.test(queueArn)) throw invalidParameter('SQS endpoint ARN');
    const existing = [...topic.subscriptions.values()].find((s) => s.endpoint === queueArn);
    if (existing) {
      if (existing.raw !== raw) throw invalidParameter('Attributes Reason: Subscription already exists with different attributes');
      return existing.arn;
    }
    const arn = `${topicArn}:${randomUUID()}`;
    topic.subscriptions.set(arn, { arn, topicArn, protocol: 'sqs', endpoint: queueArn, raw });
    return arn;
  }

  /** Delivers `message` to the topic's subscribers; returns the MessageId. */
  publish(topicArn: string, message: string, subject?: string): string {
    const topic = this.topic(topicArn);
    const messageId = randomUUID();
    for (const sub of topic.subscriptions.values()) {
      const body = sub.raw ? message : JSON.stringify(this.envelope(topic, sub, messageId, message, subject));
      this.deliver(sub.endpoint, body); // a missing queue: delivery fails silently, as in SNS
    }
    return messageId;
  }

  summaries(): TopicSummary[] {
    return [...this.topics.values()].map((t) => ({
      arn: t.arn,
      subscriptions: [...t.subscriptions.values()].map((s) => ({ arn: s.arn, endpoint: s.endpoint, raw: s.raw })),
    }));
  }

  // ---- HTTP surface ----

  execute(action: string, form: URLSearchParams): SnsResponse {
    switch (action as SnsAction) {
      case 'CreateTopic': {
        const name = required(form, 'Name');
        const attributes = entries(form, 'Attributes');
        if (attributes.FifoTopic === 'true' || name.endsWith('.fifo')) throw invalidParameter('The emulator has no FIFO topics');
        return ok('CreateTopic', `<TopicArn>${esc(this.createTopic(name))}</TopicArn>`);
      }
      case 'DeleteTopic':
        // Deleting a topic that does not exist is not an error (AWS: idempotent).
        this.topics.delete(required(form, 'TopicArn'));
        return ok('DeleteTopic', undefined);
      case 'ListTopics': {
        const arns = [...this.topics.keys()].sort();
        const { page, next } = paginate(arns, form.get('NextToken'));
        const members = page.map((arn) => `<member><TopicArn>${esc(arn)}</TopicArn></member>`).join('');
        return ok('ListTopics', `<Topics>${members}</Topics>${next ? `<NextToken>${esc(next)}</NextToken>` : ''}`);
      }
      case 'Subscribe': {
        const topicArn = required(form, 'TopicArn');
        const protocol = required(form, 'Protocol');
        if (protocol !== 'sqs') throw invalidParameter(`The emulator only delivers to sqs endpoints, not ${protocol}`);
        const endpoint = required(form, 'Endpoint');
        const attributes = entries(form, 'Attributes');
        for (const key of Object.keys(attributes)) {
          if (!SUBSCRIPTION_ATTRIBUTES.includes(key)) throw invalidParameter(`Attributes Reason: the emulator does not support ${key}`);
        }
        const raw = attributes.RawMessageDelivery;
        if (raw !== undefined && raw !== 'true' && raw !== 'false') throw invalidParameter('Attributes Reason: RawMessageDelivery: Invalid value [' + raw + ']. Must be true or false.');
        return ok('Subscribe', `<SubscriptionArn>${esc(this.subscribe(topicArn, endpoint, raw === 'true'))}</SubscriptionArn>`);
      }
      case 'Unsubscribe': {
        const arn = required(form, 'SubscriptionArn');
        const topicArn = arn.split(':').slice(0, 6).join(':');
        if (arn.split(':').length !== 7) throw invalidParameter('SubscriptionArn Reason: An ARN must have 7 elements');
        // An unknown but well-formed subscription: nothing to do, as SNS answers.
        this.topics.get(topicArn)?.subscriptions.delete(arn);
        return ok('Unsubscribe', undefined);
      }
      case 'ListSubscriptionsByTopic': {
        const topic = this.topic(required(form, 'TopicArn'));
        const { page, next } = paginate([...topic.subscriptions.values()], form.get('NextToken'));
        const members = page
          .map(
            (s) =>
              `<member><SubscriptionArn>${esc(s.arn)}</SubscriptionArn><Owner>${this.accountId}</Owner><Protocol>${s.protocol}</Protocol><Endpoint>${esc(s.endpoint)}</Endpoint><TopicArn>${esc(s.topicArn)}</TopicArn></member>`,
          )
          .join('');
        return ok('ListSubscriptionsByTopic', `<Subscriptions>${members}</Subscriptions>${next ? `<NextToken>${esc(next)}</NextToken>` : ''}`);
      }
      case 'Publish': {
        const topicArn = form.get('TopicArn') ?? form.get('TargetArn');
        if (topicArn === null || topicArn === '') throw invalidParameter('TopicArn or TargetArn Reason: no value for required parameter');
        let message = form.get('Message');
        if (message === null || message === '') throw invalidParameter('Empty message');
        if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');
        if (form.get('MessageStructure') === 'json') {
          let parsed: unknown;
          try {
            parsed = JSON.parse(message);
          } catch {
            throw invalidParameter('Message Structure - JSON message body failed to parse');
          }
          const structured = parsed as Record<string, unknown>;
          if (typeof structured?.default !== 'string') throw invalidParameter('Message Structure - No default entry in JSON message body');
          message = typeof structured.sqs === 'string' ? structured.sqs : structured.default;
        }
        const subject = form.get('Subject') ?? undefined;
        return ok('Publish', `<MessageId>${this.publish(topicArn, message, subject)}</MessageId>`);
      }
      default:
        throw new SnsError(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private topic(arn: string): Topic {
    const topic = this.topics.get(arn);
    if (!topic) throw snsNotFound();
    return topic;
  }

  private envelope(topic: Topic, sub: Subscription, messageId: string, message: string, subject: string | undefined): Record<string, string> {
    const envelope: Record<string, string> = { Type: 'Notification', MessageId: messageId, TopicArn: topic.arn };
    if (subject !== undefined) envelope.Subject = subject;
    Object.assign(envelope, {
      Message: message,
      Timestamp: new Date().toISOString(),
      SignatureVersion: '1',
      Signature: randomBytes(256).toString('base64'),
      SigningCertURL: `https://sns.${this.region}.amazonaws.com/SimpleNotificationService-${randomBytes(16).toString('hex')}.pem`,
      UnsubscribeURL: `https://sns.${this.region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${sub.arn}`,
    });
    return envelope;
  }
}

// ---- helpers ----

function ok(action: string, result: string | undefined): SnsResponse {
  const inner = result === undefined ? '' : `<${action}Result>${result}</${action}Result>`;
  return {
    status: 200,
    contentType: 'text/xml',
    body: `<?xml version="1.0"?>\n<${action}Response xmlns="${NAMESPACE}">${inner}<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

function required(form: URLSearchParams, key: string): string {
  const value = form.get(key);
  if (value === null || value === '') throw invalidParameter(`${key} Reason: no value for required parameter`);
  return value;
}

/** `Prefix.entry.N.key` / `Prefix.entry.N.value` (query-protocol maps) → an object. */
function entries(form: URLSearchParams, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; form.has(`${prefix}.entry.${i}.key`); i++) {
    out[form.get(`${prefix}.entry.${i}.key`)!] = form.get(`${prefix}.entry.${i}.value`) ?? '';
  }
  return out;
}

function paginate<T>(items: T[], token: string | null): { page: T[]; next?: string } {
  let start = 0;
  if (token !== null && token !== '') {
    start = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) throw invalidParameter('NextToken');
  }
  const page = items.slice(start, start + PAGE_SIZE);
  const end = start + page.length;
  return end < items.length ? { page, next: Buffer.from(String(end)).toString('base64url') } : { page };
}

function esc(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
