/**
 * The seed's React component, with a client that fetches a fresh Clerk token for every request instead of fixing
 * one in `headers` (Clerk tokens live 60 s). Works the same with `useAuth` from '@clerk/nextjs'.
 */
import { useAuth } from '@clerk/react';
import { useMemo, useState } from 'react';
import { createClerkMastraClient } from 'clerk-mastra-auth/client';

export function TestAgent({ baseUrl = 'http://localhost:4111' }: { baseUrl?: string }) {
  const { getToken, userId } = useAuth();
  // One client for the component's life: it asks getToken() before each request.
  const client = useMemo(() => createClerkMastraClient({ baseUrl, getToken }), [baseUrl, getToken]);
  const [answer, setAnswer] = useState('');

  async function handleClick() {
    const weatherAgent = client.getAgent('weatherAgent');
    // An agent with memory (the demo's) needs a thread: a thread id is global, so make it the user's own. The
    // resource is the signed-in user whatever is sent.
    const memory = { thread: `weather-${userId}`, resource: userId ?? '' };
    const response = await weatherAgent.generate('What is the weather in New York?', { memory });
    setAnswer(response.text);
  }

  return (
    <div>
      <button onClick={handleClick}>Test Agent</button>
      <p>{answer}</p>
    </div>
  );
}
