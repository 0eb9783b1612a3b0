/** Alert delivery (docs/alerts.md): the `alerts:` config, the channels, and the dispatcher the daemon uses. */
export { AlertDispatcher, secretRefs, wants, type DispatcherOptions } from './dispatcher.js';
export { AlertCode, AlertError } from './errors.js';
export { alertFromEvent, type FromEventOptions } from './events.js';
export {
  alertsSchema,
  channelSchema,
  isSecretRef,
  type AlertsConfig,
  type ChannelConfig,
  type EmailChannel,
  type PagerDutyChannel,
  type SlackChannel,
  type TelegramChannel,
  type WebhookChannel,
} from './schema.js';
export { webhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER, EVENT_HEADER } from './channels/webhook.js';
export * from './types.js';
