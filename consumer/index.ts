export { createConsumer, type Consumer, type ConsumerStats, type TelemetryMessage } from './consumer.js';
export { resolveConsumerOptions, type ConsumerOptions, type ConsumerOptionsInput } from './options.js';
