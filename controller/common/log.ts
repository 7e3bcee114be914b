/** JSON logs on stderr (stdout stays free for command output such as `agentway crds`). */
import { Logger, pino } from 'pino';

export function newLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'agentway' } }, pino.destination(2));
}
