/**
 * A deterministic LanguageModelV2 for attack tests: a user message `TOOL <name> <json>` makes it call that tool with
 * that input; a tool result makes it answer `RESULT <json of the output>`; anything else is echoed back. Every prompt
 * it sees is recorded in `prompts`; `DUMP` answers with the whole prompt it was given.
 */
import { Agent } from '@mastra/core/agent';
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { lastUserText, type Prompt } from '../../examples/mastra/offline-model.js';

export function scriptedModel(label = 'scripted') {
  const prompts: Prompt[] = [];
  let calls = 0;
  const usage = { inputTokens: 10, outputTokens: 8, totalTokens: 18 };
  const decide = (prompt: Prompt): { text?: string; tool?: { name: string; input: string } } => {
    prompts.push(prompt);
    const last = prompt[prompt.length - 1];
    if (last?.role === 'tool') {
      const part = (last.content as any[]).find((p) => p.type === 'tool-result');
      return { text: `RESULT ${JSON.stringify(part?.output ?? null)}` };
    }
    const text = lastUserText(prompt).trim();
    if (text === 'DUMP') return { text: `DUMP ${JSON.stringify(prompt)}` };
    const m = /^TOOL (\S+) (.*)$/s.exec(text);
    if (m) return { tool: { name: m[1]!, input: m[2]! } };
    return { text: `ECHO ${text}` };
  };
  return {
    prompts,
    specificationVersion: 'v2' as const,
    provider: 'offline',
    modelId: label,
    supportedUrls: {},
    async doGenerate(options: { prompt: Prompt }) {
      const d = decide(options.prompt);
      calls += 1;
      if (d.tool) {
        return {
          content: [{ type: 'tool-call' as const, toolCallId: `call-${calls}`, toolName: d.tool.name, input: d.tool.input }],
          finishReason: 'tool-calls' as const,
          usage,
          warnings: [],
        };
      }
      return { content: [{ type: 'text' as const, text: d.text! }], finishReason: 'stop' as const, usage, warnings: [] };
    },
    async doStream(options: { prompt: Prompt }) {
      const d = decide(options.prompt);
      calls += 1;
      const id = `call-${calls}`;
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'response-metadata', id: `r-${id}`, modelId: label, timestamp: new Date(0) });
          if (d.tool) {
            controller.enqueue({ type: 'tool-call', toolCallId: id, toolName: d.tool.name, input: d.tool.input });
            controller.enqueue({ type: 'finish', finishReason: 'tool-calls', usage });
          } else {
            controller.enqueue({ type: 'text-start', id: 't1' });
            controller.enqueue({ type: 'text-delta', id: 't1', delta: d.text! });
            controller.enqueue({ type: 'text-end', id: 't1' });
            controller.enqueue({ type: 'finish', finishReason: 'stop', usage });
          }
          controller.close();
        },
      });
      return { stream };
    },
  };
}

/** `echoAgent`, whose tool `echoContext` answers the request context its run sees (`POST .../tools/echoContext/execute`). */
export function echoAgent(): Agent {
  const echo = createTool({
    id: 'echoContext',
    description: 'Returns the request context it sees.',
    inputSchema: z.object({}),
    execute: async (_input, context) => (context as { requestContext: { toJSON(): unknown } }).requestContext.toJSON(),
  });
  return new Agent({ id: 'echoAgent', name: 'Echo', instructions: 'Echo.', model: scriptedModel() as never, tools: { echo } });
}
