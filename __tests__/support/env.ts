const CLERK_VARIABLES = ['CLERK_PUBLISHABLE_KEY', 'CLERK_SECRET_KEY', 'CLERK_JWT_KEY', 'CLERK_JWKS_URI', 'CLERK_API_URL', 'CLERK_AUTHORIZED_PARTIES'];

/**
 * Runs `fn` with exactly these CLERK_* variables in process.env (the others removed), and restores the environment
 * afterwards whatever happens: no test leaves process.env changed.
 */
export async function withClerkEnv(variables: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const saved = { ...process.env };
  try {
    for (const name of CLERK_VARIABLES) delete process.env[name];
    Object.assign(process.env, variables);
    await fn();
  } finally {
    process.env = saved;
  }
}
