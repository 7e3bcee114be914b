import { Registry } from 'prom-client';
import { AnswerCounts } from '../../controller/router/answer-counts.js';

const line = (text: string, labels: string) => text.split('\n').find((l) => l.startsWith(`agentway_router_requests_total{${labels}}`));

test('answers counted between scrapes show in the counter once, by path, status code and backend', async () => {
  const registry = new Registry();
  const answers = new AnswerCounts(registry);
  for (let i = 0; i < 3; i++) answers.add('/v1/chat/completions', 200, 'ns/a');
  answers.add('/v1/chat/completions', 429, '');
  const first = await registry.metrics();
  expect(line(first, 'path="/v1/chat/completions",code="200",backend="ns/a"')).toMatch(/ 3$/);
  expect(line(first, 'path="/v1/chat/completions",code="429",backend=""')).toMatch(/ 1$/);
  answers.add('/v1/chat/completions', 200, 'ns/a');
  const second = await registry.metrics();
  expect(line(second, 'path="/v1/chat/completions",code="200",backend="ns/a"')).toMatch(/ 4$/);
  expect(line(second, 'path="/v1/chat/completions",code="429",backend=""')).toMatch(/ 1$/);
});
