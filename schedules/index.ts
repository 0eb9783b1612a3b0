/** Schedules: duration grammar, rotation windows, due computation and the daemon's queue. */
export { parseDuration, formatDuration, configDurationMs, isoDurationMs, MAX_DURATION_MS } from './duration.js';
export { inWindow, nextWindowStart, openAtOrAfter, describeWindow, type RotationWindow, type Weekday } from './window.js';
export {
  nextRotation,
  dueForRotation,
  nextVerification,
  dueForVerification,
  slotSchedule,
  type ScheduledSlot,
  type SlotHistory,
  type SlotSchedule,
} from './due.js';
export { DueQueue, type QueueEntry, type DueQueueOptions } from './queue.js';
