/**
 * `npm run token`: a session token from the development issuer of `npm start` (the key pair kept in
 * `<DEMO_DATA_DIR or data>/dev-issuer.json`, created if missing). The token alone goes to stdout, so
 * `TOKEN=$(npm run token --silent -- --sub user_123)` works; what it is goes to stderr.
 *
 *   npm run token -- --sub user_123 --org org_acme --role admin --ttl 600
 *
 * With real Clerk configured (`CLERK_*` key variables), tokens come from Clerk's frontend: it says so, and how.
 */
import { parseArgs } from 'node:util';
import { clerkVariablesSet, dataDirOf, decodeJwt, DemoError, DEV_USERS, loadDevIssuer, type DevOrg } from './dev-issuer.js';

const USAGE = `Usage: npm run token -- [options]

A session token from the development issuer of \`npm start\` (key pair in ${dataDirOf()}/dev-issuer.json).

  --user <name>         a playground user: ${Object.keys(DEV_USERS).join(', ')} (sets --sub and the organization)
  --sub <user id>       the user (sub); without --sub and --user: --user member
  --org <org id>        active organization, e.g. org_1
  --slug <slug>         the organization's slug
  --role <role>         organization role: admin, member or org:<role> (needs --org; default member)
  --perm <permission>   organization permission org:<feature>:<permission>; repeat, or separate with commas (needs --org)
  --azp <origin>        authorized party, default http://127.0.0.1:$PORT (4111); "none" leaves it out
  --ttl <seconds>       lifetime, default 60 (Clerk's); 1 to 86400
  --pending             a pending session (sts: pending): signed out for the server
  --expired             a token that expired 2 minutes ago
  --json                print { token, header, claims, expiresAt } as JSON
  -h, --help            this text

Example: curl http://127.0.0.1:4111/me -H "Authorization: Bearer $(npm run token --silent -- --sub user_123)"`;

function usage(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`);
  process.exit(2);
}

const clerkVariables = clerkVariablesSet();
if (clerkVariables.length > 0) {
  console.error(
    `Real Clerk is configured (${clerkVariables.join(', ')} set), so tokens come from Clerk's frontend, not from this script.\n` +
      '  In your signed-in app, open the browser console and run: await window.Clerk.session.getToken()\n' +
      '  In React: const { getToken } = useAuth(); const token = await getToken();\n' +
      '  Then: curl http://127.0.0.1:4111/me -H "Authorization: Bearer <token>" (Clerk tokens live 60 s).\n' +
      'Unset the CLERK_* variables to use the development issuer of `npm start` instead.',
  );
  process.exit(1);
}

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    args: process.argv.slice(2),
    strict: true,
    allowPositionals: false,
    options: {
      user: { type: 'string' },
      sub: { type: 'string' },
      org: { type: 'string' },
      slug: { type: 'string' },
      role: { type: 'string' },
      perm: { type: 'string', multiple: true },
      azp: { type: 'string' },
      ttl: { type: 'string' },
      pending: { type: 'boolean' },
      expired: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  ({ values } = parse());
} catch (error) {
  usage((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

// No --user and no --sub: the playground's member.
const preset =
  values.user !== undefined ? DEV_USERS[values.user as keyof typeof DEV_USERS] : values.sub === undefined ? DEV_USERS.member : undefined;
if (values.user !== undefined && (!preset || !Object.hasOwn(DEV_USERS, values.user))) {
  usage(`--user must be one of ${Object.keys(DEV_USERS).join(', ')}, not "${values.user}".`);
}
const sub = values.sub ?? preset?.userId ?? DEV_USERS.member.userId;
if (!/^[A-Za-z0-9_-]+$/.test(sub)) usage(`--sub must be a user id such as user_123, not "${sub}".`);

const perms = (values.perm ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
if (values.org === undefined && (values.role !== undefined || values.slug !== undefined || perms.length > 0)) {
  usage('--role, --slug and --perm need --org (the active organization).');
}
let org: DevOrg | undefined = preset?.org;
if (values.org !== undefined) {
  if (!/^[A-Za-z0-9_-]+$/.test(values.org)) usage(`--org must be an organization id such as org_1, not "${values.org}".`);
  const role = values.role ?? 'member';
  if (!/^(org:)?[a-z0-9_-]+$/i.test(role)) usage(`--role must be a role such as admin, member or org:admin, not "${role}".`);
  for (const p of perms) if (!/^org:[a-z0-9_-]+:[a-z0-9_-]+$/i.test(p)) usage(`--perm must look like org:<feature>:<permission>, not "${p}".`);
  org = { id: values.org, slug: values.slug, role: role.startsWith('org:') ? role : `org:${role}`, permissions: perms };
}

const ttl = values.ttl === undefined ? 60 : Number(values.ttl);
if (!/^\d+$/.test(values.ttl ?? '60') || ttl < 1 || ttl > 86_400) usage(`--ttl must be a whole number of seconds from 1 to 86400, not "${values.ttl}".`);
if (values.pending && values.expired) usage('--pending and --expired: pick one.');

const port = process.env.PORT || '4111';
let azp: string | null = values.azp ?? `http://127.0.0.1:${port}`;
if (azp === 'none') azp = null;
else if (!/^https?:\/\/[^/\s]+$/.test(azp)) usage(`--azp must be an origin such as http://localhost:3000 (or "none"), not "${azp}".`);

try {
  const issuer = await loadDevIssuer();
  // Only minting is needed here: stop serving the JWKS at once, or the process stays alive.
  await issuer.close();
  const minted = await issuer.mint({ userId: sub, org, azp, expiresInSeconds: ttl, pending: values.pending, expired: values.expired });
  if (values.json) {
    console.log(JSON.stringify({ token: minted.token, ...decodeJwt(minted.token), expiresAt: minted.expiresAt.toISOString() }, null, 2));
  } else {
    console.log(minted.token);
  }
  const what = [
    `a token for ${sub}`,
    org ? `org ${org.id} (${org.role}${org.permissions?.length ? `, ${org.permissions.join(' ')}` : ''})` : 'no organization',
    `azp ${azp ?? '(none)'}`,
    values.expired
      ? `expired at ${minted.expiresAt.toLocaleTimeString('en-GB')}`
      : `lives ${ttl} s, until ${minted.expiresAt.toLocaleTimeString('en-GB')}`,
    ...(values.pending ? ['pending session'] : []),
  ];
  console.error(`${what.join('; ')}. Signed with ${issuer.keyFile}${issuer.created ? ' (created now)' : ''}.`);
} catch (error) {
  if (error instanceof DemoError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
