/**
 * A small deterministic language model (the AI SDK's LanguageModelV2 contract) so the example agent answers
 * offline: no provider, no network, the same answer every time.
 */
export type Prompt = Array<{ role: string; content: unknown }>;

/** The text of the prompt's last user message. */
export function lastUserText(prompt: Prompt): string {
  for (let i = prompt.length - 1; i >= 0; i -= 1) {
    const message = prompt[i]!;
    if (message.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    if (Array.isArray(message.content)) {
      return message.content
        .map((part: { type?: string; text?: string }) => (part.type === 'text' ? (part.text ?? '') : ''))
        .join('');
    }
  }
  return '';
}

/** Answers "Weather in <what you asked>: sunny, 21°C." */
export function offlineWeatherModel() {
  const answer = (options: { prompt: Prompt }) => `Weather in ${lastUserText(options.prompt).trim() || 'your city'}: sunny, 21°C.`;
  const usage = { inputTokens: 10, outputTokens: 8, totalTokens: 18 };
  return {
    specificationVersion: 'v2' as const,
    provider: 'offline',
    modelId: 'offline-weather',
    supportedUrls: {},
    async doGenerate(options: { prompt: Prompt }) {
      return {
        content: [{ type: 'text' as const, text: answer(options) }],
        finishReason: 'stop' as const,
        usage,
        warnings: [],
      };
    },
    async doStream(options: { prompt: Prompt }) {
      const text = answer(options);
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'response-metadata', id: 'offline-1', modelId: 'offline-weather', timestamp: new Date(0) });
          controller.enqueue({ type: 'text-start', id: 't1' });
          controller.enqueue({ type: 'text-delta', id: 't1', delta: text });
          controller.enqueue({ type: 'text-end', id: 't1' });
          controller.enqueue({ type: 'finish', finishReason: 'stop', usage });
          controller.close();
        },
      });
      return { stream };
    },
  };
}
