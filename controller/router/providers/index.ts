/** The adapter for a ModelAPI's provider type. */
import { anthropicAdapter } from './anthropic.js';
import { bedrockAdapter } from './bedrock.js';
import { passThroughAdapter } from './openai.js';
import { ProviderAdapter, ProviderTarget } from './types.js';

export * from './types.js';

export function providerAdapter(target: ProviderTarget): ProviderAdapter {
  switch (target.type) {
    case 'anthropic': return anthropicAdapter(target);
    case 'bedrock': return bedrockAdapter(target);
    case 'openai': case 'openai-compatible': case 'ollama': return passThroughAdapter(target);
  }
}
