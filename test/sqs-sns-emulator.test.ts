// The emulator's SQS and SNS parts and its ECS task state change events, checked with the REAL
// @aws-sdk/client-sqs (AWS JSON 1.0, query-compatible errors, MD5 checks) and @aws-sdk/client-sns
// (query protocol): queues, messages, long polling, visibility timeouts, batches, deleted queues,
// topic fan-out (raw and enveloped), events delivered through a topic and directly, faults.
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  paginateListSubscriptionsByTopic,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import { parseEmulatorEnv } from '../dev/emulator/main.js';
import { parseFaultSpec, startEcsEmulator, type EcsEmulator, type EmulatorOptions, type TaskStateChangeEvent } from '../dev/emulator/ecs-emulator.js';
import { sdkError } from './helpers/sdk.js';
import { exitCodeOnSigterm, startEmulatorProcess } from './helpers/emulator-process.js';
import { waitFor } from './helpers/wait.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const ACCOUNT = '123456789012';

interface Rig {
  emu: EcsEmulator;
  sqs: SQSClient;
  sns: SNSClient;
}

async function setup(t: TestContext, opts: EmulatorOptions = {}): Promise<Rig> {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0, ...opts });
  const client = { region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1 };
  const sqs = new SQSClient(client);
  const sns = new SNSClient(client);
  t.after(async () => {
    sqs.destroy();
    sns.destroy();
    await emu.close();
  });
  return { emu, sqs, sns };
}




async function queue(sqs: SQSClient, name: string, Attributes?: Record<string, string>): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }))).QueueUrl!;
}

async function attributes(sqs: SQSClient, QueueUrl: string): Promise<Record<string, string>> {
  return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes!;
}

/** Receives until `count` messages have come (each call long-polls), deleting none. */
async function receiveAll(sqs: SQSClient, QueueUrl: string, count: number): Promise<Message[]> {
  const messages: Message[] = [];
  const deadline = Date.now() + 10_000;
  while (messages.length < count) {
    if (Date.now() > deadline) assert.fail(`only ${messages.length} of ${count} messages arrived`);
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2, VisibilityTimeout: 60 }));
    messages.push(...(Messages ?? []));
  }
  return messages;
}

async function isEmpty(sqs: SQSClient, QueueUrl: string): Promise<boolean> {
  const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
  return Messages === undefined;
}

describe('SQS queues', () => {
  test('CreateQueue: URL on the host the client used, idempotent for the same attributes, QueueNameExists otherwise, name rules', async (t) => {
    const { emu, sqs } = await setup(t);
    const url = await queue(sqs, 'events', { VisibilityTimeout: '45', Policy: '{"Version":"2012-10-17","Statement":[]}' });
    assert.equal(url, `${emu.url}/${ACCOUNT}/events`);
    assert.equal(await queue(sqs, 'events', { VisibilityTimeout: '45' }), url);
    const exists = await sdkError(queue(sqs, 'events', { VisibilityTimeout: '10' }));
    assert.equal(exists.name, 'QueueNameExists');

    const attrs = await attributes(sqs, url);
    assert.equal(attrs.QueueArn, `arn:aws:sqs:us-east-1:${ACCOUNT}:events`);
    assert.equal(attrs.VisibilityTimeout, '45');
    assert.equal(attrs.MessageRetentionPeriod, '345600');
    assert.equal(attrs.ReceiveMessageWaitTimeSeconds, '0');
    assert.equal(attrs.ApproximateNumberOfMessages, '0');
    assert.equal(attrs.Policy, '{"Version":"2012-10-17","Statement":[]}');
    const some = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'ApproximateNumberOfMessagesNotVisible'] }));
    assert.deepEqual(Object.keys(some.Attributes!).sort(), ['ApproximateNumberOfMessagesNotVisible', 'QueueArn']);

    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { ReceiveMessageWaitTimeSeconds: '5', MessageRetentionPeriod: '600' } }));
    assert.equal((await attributes(sqs, url)).ReceiveMessageWaitTimeSeconds, '5');
    assert.equal((await sdkError(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '50000' } })))).name, 'InvalidAttributeValue');
    assert.equal((await sdkError(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Colour: 'blue' } as Record<string, string> })))).name, 'InvalidAttributeName');

    for (const bad of ['', 'a.b', 'x'.repeat(81), 'spaces here']) {
      const err = await sdkError(queue(sqs, bad));
      assert.ok(['InvalidParameterValue', 'MissingParameter'].includes(err.name), `${JSON.stringify(bad)}: ${err.name}`);
    }
    assert.equal(await queue(sqs, 'x'.repeat(80)), `${emu.url}/${ACCOUNT}/${'x'.repeat(80)}`);

    assert.equal((await sqs.send(new GetQueueUrlCommand({ QueueName: 'events' }))).QueueUrl, url);
    assert.equal((await sdkError(sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' })))).name, 'QueueDoesNotExist');
  });

  test('ListQueues: prefix, MaxResults pages with NextToken', async (t) => {
    const { emu, sqs } = await setup(t);
    for (const name of ['a-1', 'a-2', 'a-3', 'b-1']) await queue(sqs, name);
    const all = await sqs.send(new ListQueuesCommand({}));
    assert.deepEqual(all.QueueUrls, ['a-1', 'a-2', 'a-3', 'b-1'].map((n) => `${emu.url}/${ACCOUNT}/${n}`));
    assert.equal(all.NextToken, undefined);
    const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a-', MaxResults: 2 }));
    assert.equal(first.QueueUrls!.length, 2);
    assert.ok(first.NextToken);
    const second = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a-', MaxResults: 2, NextToken: first.NextToken }));
    assert.deepEqual(second.QueueUrls, [`${emu.url}/${ACCOUNT}/a-3`]);
    assert.equal(second.NextToken, undefined);
    assert.equal((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'zz' }))).QueueUrls, undefined);
  });

  test('DeleteQueue: QueueDoesNotExist afterwards; the name cannot be reused for 60 s (QueueDeletedRecently)', async (t) => {
    const { sqs } = await setup(t);
    const url = await queue(sqs, 'short-lived');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    const gone = await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'y' })));
    assert.equal(gone.name, 'QueueDoesNotExist');
    assert.equal(gone.$metadata.httpStatusCode, 400);
    assert.equal(gone.message, 'The specified queue does not exist.');
    assert.equal((await sdkError(sqs.send(new DeleteQueueCommand({ QueueUrl: url })))).name, 'QueueDoesNotExist');
    assert.equal((await sdkError(sqs.send(new GetQueueUrlCommand({ QueueName: 'short-lived' })))).name, 'QueueDoesNotExist');
    const recent = await sdkError(queue(sqs, 'short-lived'));
    assert.equal(recent.name, 'QueueDeletedRecently');
    assert.match(recent.message, /wait 60 seconds/);
  });
});

describe('SQS messages', () => {
  test('send, receive (MD5OfBody checked by the SDK, system attributes), delete', async (t) => {
    const { sqs } = await setup(t);
    const url = await queue(sqs, 'work');
    const body = JSON.stringify({ hello: 'wörld', emoji: '🎥' });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } } }));
    assert.match(sent.MessageId!, /^[0-9a-f-]{36}$/);
    assert.equal(sent.MD5OfMessageBody, '' + (await import('node:crypto')).createHash('md5').update(body).digest('hex'));
    assert.equal((await attributes(sqs, url)).ApproximateNumberOfMessages, '1');

    const before = Date.now();
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'], MessageAttributeNames: ['All'] }),
    );
    assert.equal(Messages!.length, 1);
    const [m] = Messages!;
    assert.equal(m!.Body, body);
    assert.equal(m!.MessageId, sent.MessageId);
    assert.equal(m!.Attributes!.ApproximateReceiveCount, '1');
    assert.ok(Math.abs(Number(m!.Attributes!.SentTimestamp) - before) < 5000);
    assert.deepEqual(m!.MessageAttributes, { kind: { DataType: 'String', StringValue: 'test' } });
    assert.equal(m!.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
    const counts = await attributes(sqs, url);
    assert.deepEqual([counts.ApproximateNumberOfMessages, counts.ApproximateNumberOfMessagesNotVisible], ['0', '1']);

    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m!.ReceiptHandle }));
    const after = await attributes(sqs, url);
    assert.deepEqual([after.ApproximateNumberOfMessages, after.ApproximateNumberOfMessagesNotVisible], ['0', '0']);
    assert.equal((await sdkError(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'garbage' })))).name, 'ReceiptHandleIsInvalid');
    assert.equal((await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '' })))).name, 'MissingParameter');
    assert.equal((await sdkError(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 })))).name, 'InvalidParameterValue');
    assert.equal((await sdkError(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 21 })))).name, 'InvalidParameterValue');
  });

  test('message size: MaximumMessageSize (1 MiB by default, settable) answers InvalidParameterValue beyond it', async (t) => {
    const { sqs } = await setup(t);
    const small = await queue(sqs, 'small', { MaximumMessageSize: '262144' });
    await sqs.send(new SendMessageCommand({ QueueUrl: small, MessageBody: 'x'.repeat(262_144) }));
    const tooLong = await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: small, MessageBody: 'x'.repeat(262_145) })));
    assert.equal(tooLong.name, 'InvalidParameterValue');
    assert.match(tooLong.message, /Message must be shorter than 262144 bytes/);
    const big = await queue(sqs, 'big');
    assert.equal((await attributes(sqs, big)).MaximumMessageSize, '1048576');
    await sqs.send(new SendMessageCommand({ QueueUrl: big, MessageBody: 'x'.repeat(262_145) }));
    assert.equal((await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: big, MessageBody: 'x'.repeat(1_048_577) })))).name, 'InvalidParameterValue');
  });

  test('long polling answers as soon as a message arrives, well before WaitTimeSeconds; an empty poll waits it out', async (t) => {
    const { emu, sqs } = await setup(t);
    const url = await queue(sqs, 'poll');
    const receiving = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }));
    await waitFor(() => emu.calls('ReceiveMessage').length === 1, { timeoutMs: 5000, intervalMs: 5, what: 'the ReceiveMessage call' });
    const sentAt = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake up' }));
    const { Messages } = await receiving;
    const elapsed = Date.now() - sentAt;
    assert.equal(Messages?.[0]?.Body, 'wake up');
    // Half the 20 s wait tells "answered on arrival" from "waited it out" on a busy machine.
    assert.ok(elapsed < 10_000, `the long poll answered ${elapsed} ms after the send`);

    const started = Date.now();
    const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    const waited = Date.now() - started;
    assert.equal(empty.Messages, undefined);
    assert.ok(waited >= 950, `an empty 1 s long poll took ${waited} ms`);
  });

  test('the queue-level ReceiveMessageWaitTimeSeconds applies when the call gives none; close() ends a pending long poll', async (t) => {
    const { emu, sqs } = await setup(t);
    const url = await queue(sqs, 'default-wait', { ReceiveMessageWaitTimeSeconds: '20' });
    const receiving = sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
    const outcome = receiving.then(
      () => 'answered',
      () => 'failed',
    );
    await waitFor(() => emu.calls('ReceiveMessage').length === 1, { timeoutMs: 5000, intervalMs: 5, what: 'the ReceiveMessage call' });
    const closedAt = Date.now();
    await emu.close();
    await outcome;
    assert.ok(Date.now() - closedAt < 10_000, 'close() did not wait for the 20 s long poll');
  });

  test('visibility timeout: an undeleted message comes back with a new receipt handle; the old handle no longer deletes it', async (t) => {
    const { sqs } = await setup(t);
    const url = await queue(sqs, 'retry');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }));
    const first = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 1 }))).Messages![0]!;
    assert.ok(await isEmpty(sqs, url), 'the message is hidden while in flight');
    const hiddenAt = Date.now();
    const second = await waitFor(
      async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 2, MessageSystemAttributeNames: ['All'] }))).Messages?.[0],
      { timeoutMs: 15_000, intervalMs: 5, what: 'the message to come back' },
    );
    const back = Date.now() - hiddenAt;
    assert.ok(back < 10_000, `it came back after ${back} ms (visibility timeout 1 s, not the default 30 s)`);
    assert.equal(second.MessageId, first.MessageId);
    assert.equal(second.Attributes!.ApproximateReceiveCount, '2');
    assert.notEqual(second.ReceiptHandle, first.ReceiptHandle);

    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle })); // succeeds, deletes nothing
    assert.equal((await attributes(sqs, url)).ApproximateNumberOfMessagesNotVisible, '1');
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: second.ReceiptHandle, VisibilityTimeout: 0 }));
    const third = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages![0]!;
    assert.equal(third.MessageId, first.MessageId);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: third.ReceiptHandle }));
    assert.ok(await isEmpty(sqs, url));
    const notInFlight = await sdkError(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: third.ReceiptHandle, VisibilityTimeout: 5 })));
    assert.equal(notInFlight.name, 'MessageNotInflight');
  });

  test('SendMessageBatch and DeleteMessageBatch: per-entry results, batch-level errors', async (t) => {
    const { sqs } = await setup(t);
    const url = await queue(sqs, 'batch');
    const sent = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: url, Entries: ['one', 'two', 'three'].map((MessageBody, i) => ({ Id: `m${i}`, MessageBody })) }),
    );
    assert.deepEqual(sent.Successful!.map((s) => s.Id), ['m0', 'm1', 'm2']);
    assert.equal(sent.Failed?.length ?? 0, 0);
    const messages = await receiveAll(sqs, url, 3);
    assert.deepEqual(messages.map((m) => m.Body).sort(), ['one', 'three', 'two']);

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [...messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })), { Id: 'bad', ReceiptHandle: 'not-a-handle' }],
      }),
    );
    assert.deepEqual(deleted.Successful!.map((s) => s.Id), ['d0', 'd1', 'd2']);
    assert.deepEqual(deleted.Failed!.map((f) => [f.Id, f.Code, f.SenderFault]), [['bad', 'ReceiptHandleIsInvalid', true]]);
    const counts = await attributes(sqs, url);
    assert.deepEqual([counts.ApproximateNumberOfMessages, counts.ApproximateNumberOfMessagesNotVisible], ['0', '0']);

    const dup = await sdkError(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'x', MessageBody: 'a' }, { Id: 'x', MessageBody: 'b' }] })));
    assert.equal(dup.name, 'BatchEntryIdsNotDistinct');
    const many = Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'a' }));
    assert.equal((await sdkError(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: many })))).name, 'TooManyEntriesInBatchRequest');
    assert.equal((await sdkError(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [] })))).name, 'EmptyBatchRequest');
  });
});

describe('SNS', () => {
  test('Publish fans out to SQS subscriptions: raw delivery gets the message, the other the SNS envelope; Unsubscribe stops delivery', async (t) => {
    const { sqs, sns } = await setup(t);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'task-events' }));
    assert.equal(TopicArn, `arn:aws:sns:us-east-1:${ACCOUNT}:task-events`);
    assert.equal((await sns.send(new CreateTopicCommand({ Name: 'task-events' }))).TopicArn, TopicArn);
    const rawUrl = await queue(sqs, 'raw');
    const envUrl = await queue(sqs, 'enveloped');
    const arnOf = async (url: string) => (await attributes(sqs, url)).QueueArn!;
    const rawSub = await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: await arnOf(rawUrl), Attributes: { RawMessageDelivery: 'true' } }));
    const envSub = await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: await arnOf(envUrl) }));
    assert.match(rawSub.SubscriptionArn!, new RegExp(`^${TopicArn}:[0-9a-f-]{36}$`));
    assert.notEqual(rawSub.SubscriptionArn, envSub.SubscriptionArn);
    const listed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    assert.deepEqual(
      listed.Subscriptions!.map((s) => [s.SubscriptionArn, s.Protocol, s.Endpoint, s.TopicArn, s.Owner]),
      [
        [rawSub.SubscriptionArn, 'sqs', await arnOf(rawUrl), TopicArn, ACCOUNT],
        [envSub.SubscriptionArn, 'sqs', await arnOf(envUrl), TopicArn, ACCOUNT],
      ],
    );

    const published = await sns.send(new PublishCommand({ TopicArn, Message: '{"a":1}', Subject: 'hello' }));
    assert.match(published.MessageId!, /^[0-9a-f-]{36}$/);
    const [raw] = await receiveAll(sqs, rawUrl, 1);
    assert.equal(raw!.Body, '{"a":1}');
    const [env] = await receiveAll(sqs, envUrl, 1);
    const envelope = JSON.parse(env!.Body!) as Record<string, string>;
    assert.equal(envelope.Type, 'Notification');
    assert.equal(envelope.MessageId, published.MessageId);
    assert.equal(envelope.TopicArn, TopicArn);
    assert.equal(envelope.Subject, 'hello');
    assert.equal(envelope.Message, '{"a":1}');
    assert.equal(envelope.SignatureVersion, '1');
    assert.match(envelope.Timestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(envelope.Signature && envelope.SigningCertURL && envelope.UnsubscribeURL!.includes(envSub.SubscriptionArn!));

    await sns.send(new UnsubscribeCommand({ SubscriptionArn: rawSub.SubscriptionArn }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'second' }));
    const [env2] = await receiveAll(sqs, envUrl, 1);
    assert.equal((JSON.parse(env2!.Body!) as { Message: string; Subject?: string }).Message, 'second');
    assert.ok(await isEmpty(sqs, rawUrl), 'the unsubscribed queue got nothing');
    assert.equal((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }))).Subscriptions!.length, 1);

    await sns.send(new DeleteTopicCommand({ TopicArn }));
    assert.equal((await sdkError(sns.send(new PublishCommand({ TopicArn, Message: 'x' })))).name, 'NotFoundException');
    await sns.send(new DeleteTopicCommand({ TopicArn })); // idempotent
  });

  test('ListSubscriptionsByTopic pages by 100; Subscribe checks topic, protocol and endpoint', async (t) => {
    const { sns } = await setup(t);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'many' }));
    for (let i = 0; i < 120; i++) {
      await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: `arn:aws:sqs:us-east-1:${ACCOUNT}:q${i}` }));
    }
    const first = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    assert.equal(first.Subscriptions!.length, 100);
    assert.ok(first.NextToken);
    const endpoints: string[] = [];
    for await (const page of paginateListSubscriptionsByTopic({ client: sns }, { TopicArn })) endpoints.push(...page.Subscriptions!.map((s) => s.Endpoint!));
    assert.equal(new Set(endpoints).size, 120);

    const missing = await sdkError(sns.send(new SubscribeCommand({ TopicArn: `${TopicArn}-nope`, Protocol: 'sqs', Endpoint: `arn:aws:sqs:us-east-1:${ACCOUNT}:q0` })));
    assert.equal(missing.name, 'NotFoundException');
    assert.equal(missing.$metadata.httpStatusCode, 404);
    assert.equal((await sdkError(sns.send(new SubscribeCommand({ TopicArn, Protocol: 'http', Endpoint: 'http://example.com' })))).name, 'InvalidParameterException');
    assert.equal((await sdkError(sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: 'not-an-arn' })))).name, 'InvalidParameterException');
    assert.equal((await sdkError(sns.send(new CreateTopicCommand({ Name: 'bad name' })))).name, 'InvalidParameterException');
  });
});

describe('ECS task state change events', () => {
  const parse = (m: Message) => JSON.parse(m.Body!) as TaskStateChangeEvent;

  test('addTask / setTask / removeTask emit events of the real shape, through an SNS topic and directly to a queue; DescribeTasks agrees on version', async (t) => {
    const { emu, sqs, sns } = await setup(t);
    emu.addTask({ cluster: 'media', service: 'rtmp', address: '10.0.0.5' });
    assert.deepEqual(emu.events(), [], 'no targets, no events');

    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'ecs-events' }));
    const viaTopicUrl = await queue(sqs, 'via-topic');
    const directUrl = await queue(sqs, 'direct');
    const viaTopicArn = (await attributes(sqs, viaTopicUrl)).QueueArn!;
    const directArn = (await attributes(sqs, directUrl)).QueueArn!;
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: viaTopicArn, Attributes: { RawMessageDelivery: 'true' } }));
    emu.setEventTargets([TopicArn!, directArn]);

    const taskArn = emu.addTask({ cluster: 'media', service: 'rtmp', address: '10.0.0.9', az: 'us-east-1b' });
    emu.setTask(taskArn, { healthStatus: 'HEALTHY' });
    emu.removeTask(taskArn);
    emu.removeTask(taskArn); // already stopped: no change, no event

    const direct = (await receiveAll(sqs, directUrl, 3)).map(parse).sort((a, b) => Number(a.detail.version) - Number(b.detail.version));
    const viaTopic = (await receiveAll(sqs, viaTopicUrl, 3)).map(parse).sort((a, b) => Number(a.detail.version) - Number(b.detail.version));
    assert.deepEqual(viaTopic, direct, 'the topic and the queue got the same events');
    assert.deepEqual(emu.events(), direct);

    for (const event of direct) {
      assert.equal(event.version, '0');
      assert.match(event.id, /^[0-9a-f-]{36}$/);
      assert.equal(event['detail-type'], 'ECS Task State Change');
      assert.equal(event.source, 'aws.ecs');
      assert.equal(event.account, ACCOUNT);
      assert.equal(event.region, 'us-east-1');
      assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(event.resources, [taskArn]);
      const d = event.detail;
      assert.equal(d.taskArn, taskArn);
      assert.equal(d.clusterArn, `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/media`);
      assert.equal(d.group, 'service:rtmp');
      assert.equal(d.launchType, 'FARGATE');
      assert.equal(d.availabilityZone, 'us-east-1b');
      assert.match(String(d.createdAt), /^\d{4}-\d\d-\d\dT.*Z$/);
      assert.match(String(d.updatedAt), /^\d{4}-\d\d-\d\dT.*Z$/);
      assert.ok(Array.isArray(d.containers));
    }
    assert.deepEqual(direct.map((e) => e.detail.version), [1, 2, 3]);
    assert.deepEqual(direct.map((e) => [e.detail.lastStatus, e.detail.desiredStatus, e.detail.healthStatus]), [
      ['RUNNING', 'RUNNING', 'UNKNOWN'],
      ['RUNNING', 'RUNNING', 'HEALTHY'],
      ['STOPPED', 'STOPPED', 'HEALTHY'],
    ]);
    const eni = (direct[0]!.detail.attachments as { type: string; details: { name: string; value: string }[] }[])[0]!;
    assert.equal(eni.type, 'ElasticNetworkInterface');
    const details = Object.fromEntries(eni.details.map((x) => [x.name, x.value]));
    assert.equal(details.privateIPv4Address, '10.0.0.9');
    assert.equal(details.networkInterfaceId, emu.tasks().find((x) => x.taskArn === taskArn)!.eniId);
    const stopped = direct[2]!.detail;
    assert.equal(typeof stopped.stoppedReason, 'string');
    assert.match(String(stopped.stoppedAt), /^\d{4}-\d\d-\d\dT.*Z$/);

    const ecs = new ECSClient({ region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => ecs.destroy());
    const described = (await ecs.send(new DescribeTasksCommand({ cluster: 'media', tasks: [taskArn] }))).tasks![0]!;
    assert.equal(described.version, 3);
    assert.equal(described.lastStatus, 'STOPPED');
    assert.equal(emu.tasks().find((x) => x.taskArn === taskArn)!.version, 3);
  });

  test('the task is already in its new state when the event arrives; raw overrides reach the event too', async (t) => {
    const { emu, sqs } = await setup(t);
    const url = await queue(sqs, 'events');
    emu.setEventTargets([`arn:aws:sqs:us-east-1:${ACCOUNT}:events`]);
    const ecs = new ECSClient({ region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => ecs.destroy());
    const receiving = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
    await waitFor(() => emu.calls('ReceiveMessage').length === 1, { timeoutMs: 5000, intervalMs: 5, what: 'the ReceiveMessage call' });
    const taskArn = emu.addTask({ service: 'rtmp', lastStatus: 'PROVISIONING', raw: { platformVersion: '1.4.0', startedAt: new Date('2024-01-02T03:04:05Z') } });
    const event = JSON.parse((await receiving).Messages![0]!.Body!) as TaskStateChangeEvent;
    assert.equal(event.detail.platformVersion, '1.4.0');
    assert.equal(event.detail.startedAt, '2024-01-02T03:04:05.000Z');
    const described = (await ecs.send(new DescribeTasksCommand({ tasks: [taskArn] }))).tasks![0]!;
    assert.equal(described.lastStatus, event.detail.lastStatus);
    assert.equal(described.version, event.detail.version);
    assert.equal(described.platformVersion, '1.4.0');
  });

  test('targets from the options and the admin API; bad ARNs are refused; a missing target drops the event; reset clears SQS, SNS and targets', async (t) => {
    const { emu, sqs } = await setup(t, { eventTargets: [`arn:aws:sqs:us-east-1:${ACCOUNT}:from-options`] });
    const url = await queue(sqs, 'from-options');
    emu.addTask();
    assert.equal((await receiveAll(sqs, url, 1)).length, 1);

    const put = (body: unknown) => fetch(`${emu.url}/_emulator/event-targets`, { method: 'PUT', body: JSON.stringify(body) });
    assert.equal((await put({ targets: ['arn:aws:lambda:us-east-1:123456789012:function:f'] })).status, 400);
    assert.equal((await put({ targets: 'nope' })).status, 400);
    const ok = await put({ targets: [`arn:aws:sns:us-east-1:${ACCOUNT}:not-yet`] });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { targets: [`arn:aws:sns:us-east-1:${ACCOUNT}:not-yet`] });
    emu.addTask(); // the topic does not exist: dropped
    assert.equal(emu.events().length, 2);
    assert.ok(await isEmpty(sqs, url));

    const admin = (await (await fetch(`${emu.url}/_emulator/sqs`)).json()) as { queues: { name: string; url: string; visible: number; inFlight: number }[] };
    assert.deepEqual(admin.queues.map((q) => [q.name, q.url, q.visible, q.inFlight]), [['from-options', url, 0, 1]]);

    emu.reset();
    assert.deepEqual(emu.queues(), []);
    assert.deepEqual(emu.topics(), []);
    assert.deepEqual(emu.events(), []);
    assert.deepEqual(((await (await fetch(`${emu.url}/_emulator/event-targets`)).json()) as { targets: string[] }).targets, []);
    emu.addTask();
    assert.deepEqual(emu.events(), []);
    assert.equal((await sdkError(sqs.send(new GetQueueUrlCommand({ QueueName: 'from-options' })))).name, 'QueueDoesNotExist');
  });

  test('direct helpers: createQueue, createTopic, subscribeQueue', async (t) => {
    const { emu, sqs } = await setup(t);
    const { queueUrl, queueArn } = emu.createQueue('helper-q', { VisibilityTimeout: '5' });
    assert.equal(queueUrl, `${emu.url}/${ACCOUNT}/helper-q`);
    const topicArn = emu.createTopic('helper-t');
    emu.subscribeQueue(topicArn, queueArn, { raw: true });
    emu.setEventTargets([topicArn]);
    const taskArn = emu.addTask();
    const [m] = await receiveAll(sqs, queueUrl, 1);
    assert.deepEqual((JSON.parse(m!.Body!) as TaskStateChangeEvent).resources, [taskArn]);
    assert.deepEqual(emu.topics(), [{ arn: topicArn, subscriptions: [{ arn: emu.topics()[0]!.subscriptions[0]!.arn, endpoint: queueArn, raw: true }] }]);
  });
});

describe('faults and endpoints', () => {
  test('an injected throttle on ReceiveMessage surfaces as the SDK throttling error; other kinds too, and the call log records them', async (t) => {
    const { emu, sqs, sns } = await setup(t);
    const url = await queue(sqs, 'faulty');
    emu.injectFault({ action: 'ReceiveMessage', kind: 'throttle' });
    const throttled = await sdkError(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 })));
    assert.equal(throttled.name, 'RequestThrottled');
    assert.equal(throttled.$metadata.httpStatusCode, 400);
    assert.deepEqual(emu.calls('ReceiveMessage').map((c) => c.fault), ['throttle']);
    assert.equal((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages, undefined, 'the fault was used up');

    emu.injectFault({ action: 'SendMessage', kind: 'access-denied' });
    assert.equal((await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })))).name, 'AccessDenied');
    emu.injectFault({ action: 'SendMessage', kind: 'queue-gone' });
    assert.equal((await sdkError(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })))).name, 'QueueDoesNotExist');
    emu.injectFault({ action: 'DeleteMessage', kind: 'server-error' });
    const server = await sdkError(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'x' })));
    assert.equal(server.$fault, 'server');
    assert.equal(server.$metadata.httpStatusCode, 500);
    emu.injectFault({ action: 'GetQueueAttributes', kind: 'drop-connection' });
    await assert.rejects(attributes(sqs, url));
    assert.equal((await attributes(sqs, url)).ApproximateNumberOfMessages, '0', 'nothing was sent by the faulted calls');

    emu.injectFault({ action: 'Publish', kind: 'throttle' });
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 't' }));
    assert.equal((await sdkError(sns.send(new PublishCommand({ TopicArn, Message: 'm' })))).name, 'ThrottledException');
    emu.injectFault({ action: 'Subscribe', kind: 'access-denied' });
    assert.equal((await sdkError(sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: `arn:aws:sqs:us-east-1:${ACCOUNT}:faulty` })))).name, 'AuthorizationErrorException');
    emu.injectFault({ action: 'CreateTopic', kind: 'server-error' });
    assert.equal((await sdkError(sns.send(new CreateTopicCommand({ Name: 'u' })))).name, 'InternalErrorException');
    assert.deepEqual(emu.calls('Publish').map((c) => [c.fault, c.params.TopicArn]), [['throttle', TopicArn]]);

    assert.deepEqual(parseFaultSpec({ action: 'ReceiveMessage', kind: 'queue-gone', times: 'Infinity' }), { action: 'ReceiveMessage', kind: 'queue-gone', times: Infinity });
    assert.deepEqual(parseFaultSpec({ action: 'Publish', kind: 'throttle' }), { action: 'Publish', kind: 'throttle' });
  });

  test('a slow fault delays a long poll without spoiling it', async (t) => {
    const { emu, sqs } = await setup(t);
    const url = await queue(sqs, 'slow');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'late' }));
    emu.injectFault({ action: 'ReceiveMessage', kind: 'slow', delayMs: 300 });
    const started = Date.now();
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }));
    assert.equal(Messages?.[0]?.Body, 'late');
    assert.ok(Date.now() - started >= 290);
  });

  test('AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_SNS point endpoint-less clients at the emulator', async (t) => {
    const { emu } = await setup(t);
    const saved = { sqs: process.env.AWS_ENDPOINT_URL_SQS, sns: process.env.AWS_ENDPOINT_URL_SNS };
    process.env.AWS_ENDPOINT_URL_SQS = emu.url;
    process.env.AWS_ENDPOINT_URL_SNS = emu.url;
    t.after(() => {
      for (const [key, value] of [['AWS_ENDPOINT_URL_SQS', saved.sqs], ['AWS_ENDPOINT_URL_SNS', saved.sns]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    });
    const sqs = new SQSClient({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    const sns = new SNSClient({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => {
      sqs.destroy();
      sns.destroy();
    });
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'env' }))).QueueUrl!;
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'env' }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: `arn:aws:sqs:us-east-1:${ACCOUNT}:env`, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'via env' }));
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    assert.equal(Messages?.[0]?.Body, 'via env');
  });
});

describe('standalone emulator (dev/emulator/main.ts)', () => {
  test('CREATE_TOPICS, CREATE_QUEUES, EVENT_TARGETS: parsed (present only when set), errors name the variable', () => {
    const plain = parseEmulatorEnv({});
    assert.ok(plain.ok);
    assert.equal('eventTargets' in plain.value, false);
    const set = parseEmulatorEnv({ CREATE_TOPICS: 'a, b', CREATE_QUEUES: 'q', EVENT_TARGETS: `arn:aws:sns:us-east-1:${ACCOUNT}:a,arn:aws:sqs:us-east-1:${ACCOUNT}:q` });
    assert.ok(set.ok);
    assert.deepEqual([set.value.createTopics, set.value.createQueues, set.value.eventTargets], [
      ['a', 'b'],
      ['q'],
      [`arn:aws:sns:us-east-1:${ACCOUNT}:a`, `arn:aws:sqs:us-east-1:${ACCOUNT}:q`],
    ]);
    const bad = parseEmulatorEnv({ CREATE_TOPICS: 'a b', CREATE_QUEUES: 'x'.repeat(81), EVENT_TARGETS: 'events' });
    assert.equal(bad.ok, false);
    const errors = bad.ok ? [] : bad.errors;
    assert.equal(errors.length, 3);
    assert.ok(errors.some((e) => e.startsWith('CREATE_TOPICS: "a b"')));
    assert.ok(errors.some((e) => e.startsWith('CREATE_QUEUES: "xxx')));
    assert.ok(errors.some((e) => e.startsWith('EVENT_TARGETS: "events"')));
  });

  test('as a process: creates the topics and queues, prints them, and sends the seeded tasks\' events to EVENT_TARGETS', async (t) => {
    const { child, started: first } = await startEmulatorProcess(t, {
      EMULATOR_HOST: '127.0.0.1',
      EMULATOR_PORT: '0',
      EMULATOR_TASKS: '10.0.0.1,10.0.0.2',
      CREATE_TOPICS: 'server-events',
      CREATE_QUEUES: 'proxy-events',
      EVENT_TARGETS: `arn:aws:sqs:us-east-1:${ACCOUNT}:proxy-events`,
    });
    const started = first as typeof first & { topics: string[]; queues: string[] };
    assert.equal(started.msg, 'ECS emulator listening');
    assert.deepEqual(started.topics, [`arn:aws:sns:us-east-1:${ACCOUNT}:server-events`]);
    assert.equal(started.queues.length, 1);

    const sqs = new SQSClient({ region: 'us-east-1', endpoint: started.url, credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => sqs.destroy());
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'proxy-events' }));
    const events = (await receiveAll(sqs, QueueUrl!, 2)).map((m) => JSON.parse(m.Body!) as TaskStateChangeEvent);
    assert.deepEqual(events.map((e) => e['detail-type']), ['ECS Task State Change', 'ECS Task State Change']);
    sqs.destroy();

    assert.equal(await exitCodeOnSigterm(child), 0);
  });
});
