/**
 * Ownership invariants for Mastra's memory storage, which Mastra 1.x's handlers do not keep on their own.
 *
 * With the provider mapping each request to the user's resource, Mastra refuses reads and updates of another
 * resource's threads, but two writes go around that check, on LibSQL and PostgreSQL alike:
 * - creating a thread with an existing thread's id (`POST /memory/threads` with `threadId`) overwrites it, owner
 *   included (`INSERT OR REPLACE`, `ON CONFLICT DO UPDATE`): the thread, and then its messages, change hands;
 * - saving a message with an existing message's id (`POST /memory/save-messages`, or an agent run with
 *   `messages[].id`) moves it into the caller's thread with new content: the owner loses it.
 * These invariants hold whoever writes: a thread never changes owner through `saveThread`, and a message never moves
 * to another thread or resource through `saveMessages`. Mastra's own transfer (`updateThreadResourceId`) and cloning
 * are not affected. And one read: a thread's observational memory (stored under the thread id alone, which Mastra's
 * routes read for the thread and resource the request names) is served only to the thread's owner.
 *
 * And the workflows domain, when the storage has one: Mastra's `start-async`, `start`, `stream` and `create-run` check no
 * owner of a stored run (the adapters tie run ids only to the runs started in the process), and a run started again
 * under a stored run's id persists its snapshot over the stored one, `resourceId` included. A stored run never changes
 * resource through `persistWorkflowSnapshot`: Mastra's own persists of a run (steps, suspend, resume, restart,
 * time-travel, cancel) pass the run's stored `resourceId`, or none (then the stored one stays).
 */
import { BoundedMap } from '../core/bounded-map.js';
import { isServerContextKey } from './routes.js';

/** A refused write; Mastra's handlers answer with its `status` (403) and message. */
export class MemoryOwnershipError extends Error {
  override readonly name = 'MemoryOwnershipError';
  readonly status = 403;
  readonly statusCode = 403;
}

interface StoredThread {
  id: string;
  resourceId: string;
  createdAt?: Date | string;
}

interface StoredMessage {
  id?: string;
  threadId?: string;
  resourceId?: string;
  /** Mastra's Responses API keeps a response's turn in its assistant message: `metadata.mastra.response.messageIds`. */
  content?: unknown;
}

/**
 * The message ids a message's Responses API record lists (`content.metadata.mastra.response.messageIds`): `GET` and
 * `DELETE /v1/responses/:responseId` load and delete them by id alone, once the record's own message is the caller's.
 */
function listedMessageIds(message: StoredMessage): string[] {
  const content = message.content as { metadata?: { mastra?: { response?: { messageIds?: unknown } } } } | undefined;
  const listed = typeof content === 'object' && content !== null ? content.metadata?.mastra?.response?.messageIds : undefined;
  return Array.isArray(listed) ? listed.filter((id): id is string => typeof id === 'string' && id.length > 0) : [];
}

/** An observational-memory record: the resource it was written for, and when. */
interface StoredObservations {
  resourceId?: string;
  createdAt?: Date | string;
}

/** A stored time in ms (NaN when missing: then nothing compares as later). */
const timeOf = (value: Date | string | undefined): number => (value === undefined ? Number.NaN : new Date(value).getTime());

/** The part of Mastra's memory storage domain this guards (LibSQL's `MemoryLibSQL`, PostgreSQL's `MemoryPG`...). */
interface MemoryDomain {
  getThreadById(args: { threadId: string }): Promise<StoredThread | null>;
  saveThread(args: { thread: StoredThread }): Promise<unknown>;
  listMessagesById(args: { messageIds: string[] }): Promise<{ messages: StoredMessage[] } | StoredMessage[]>;
  saveMessages(args: { messages: StoredMessage[] }): Promise<unknown>;
  /** Observational memory (Mastra 1.x storages that have it): a thread's record is found by the thread id alone. */
  getObservationalMemory?(threadId: string | null, resourceId: string, ...rest: unknown[]): Promise<StoredObservations | null>;
  getObservationalMemoryHistory?(threadId: string | null, resourceId: string, ...rest: unknown[]): Promise<StoredObservations[]>;
}

const GUARDED = Symbol.for('clerk-mastra-auth.memory-ownership');

/** A stored workflow run, as `getWorkflowRunById` returns it. */
interface StoredRun {
  resourceId?: string | null;
}

/** The part of Mastra's workflows storage domain this guards (`WorkflowsLibSQL`, `WorkflowsPG`...). */
interface WorkflowsDomain {
  persistWorkflowSnapshot(args: { workflowName: string; runId: string; resourceId?: string | null }): Promise<unknown>;
  getWorkflowRunById(args: { runId: string; workflowName?: string }): Promise<StoredRun | null>;
  deleteWorkflowRunById?(args: { runId: string; workflowName: string }): Promise<unknown>;
  dangerouslyClearAll?(): Promise<unknown>;
}

/**
 * How many (workflow, run) pairs a guarded workflows domain remembers with the resource last persisted for them: a
 * persist of a remembered pair for the same resource costs no lookup (every persist after a run's first, in the process).
 */
const CHECKED_RUNS = 10_000;

/** Whether `value` is an object with each of these methods: a storage domain this module knows how to guard. */
function hasMethods(value: unknown, names: readonly string[]): boolean {
  return typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

function isWorkflowsDomain(value: unknown): value is WorkflowsDomain {
  return hasMethods(value, ['persistWorkflowSnapshot', 'getWorkflowRunById']);
}

function guardWorkflows(domain: WorkflowsDomain): void {
  if ((domain as unknown as Record<symbol, unknown>)[GUARDED]) return;
  const persistWorkflowSnapshot = domain.persistWorkflowSnapshot.bind(domain);
  const getWorkflowRunById = domain.getWorkflowRunById.bind(domain);
  // (workflow, run) -> the resource last persisted for it here. Only this process's writes go through it: a run
  // deleted and made again by another resource elsewhere, under the same id, is not seen until the pair is pushed out.
  const checked = new BoundedMap<string, string>(CHECKED_RUNS);
  const keyOf = (workflowName: string, runId: string): string => JSON.stringify([workflowName, runId]);

  domain.persistWorkflowSnapshot = async (args) => {
    const { workflowName, runId, resourceId } = args;
    // No resource: the stored one stays (LibSQL and PostgreSQL keep it: COALESCE), as Mastra's own updates do.
    if (typeof resourceId !== 'string' || resourceId.length === 0) return persistWorkflowSnapshot(args);
    const key = keyOf(workflowName, runId);
    if (checked.get(key) !== resourceId) {
      const stored = await getWorkflowRunById({ runId, workflowName });
      // A run stored without a resource is anyone's to Mastra's checks (validateRunOwnership): not refused here either.
      if (stored && typeof stored.resourceId === 'string' && stored.resourceId.length > 0 && stored.resourceId !== resourceId) {
        throw new MemoryOwnershipError('A workflow run with this id already exists and belongs to another resource.');
      }
    }
    const result = await persistWorkflowSnapshot(args);
    checked.set(key, resourceId);
    return result;
  };
  if (typeof domain.deleteWorkflowRunById === 'function') {
    const deleteWorkflowRunById = domain.deleteWorkflowRunById.bind(domain);
    domain.deleteWorkflowRunById = async (args) => {
      checked.delete(keyOf(args.workflowName, args.runId));
      return deleteWorkflowRunById(args);
    };
  }
  if (typeof domain.dangerouslyClearAll === 'function') {
    const dangerouslyClearAll = domain.dangerouslyClearAll.bind(domain);
    domain.dangerouslyClearAll = async () => {
      checked.clear();
      return dangerouslyClearAll();
    };
  }
  Object.defineProperty(domain, GUARDED, { value: true });
}

function isMemoryDomain(value: unknown): value is MemoryDomain {
  return hasMethods(value, ['getThreadById', 'saveThread', 'listMessagesById', 'saveMessages']);
}

function guard(domain: MemoryDomain): void {
  if ((domain as unknown as Record<symbol, unknown>)[GUARDED]) return;
  const saveThread = domain.saveThread.bind(domain);
  const saveMessages = domain.saveMessages.bind(domain);
  const getThreadById = domain.getThreadById.bind(domain);
  const listMessagesById = domain.listMessagesById.bind(domain);

  domain.saveThread = async (args) => {
    const existing = await getThreadById({ threadId: args.thread.id });
    if (existing && existing.resourceId !== args.thread.resourceId) {
      throw new MemoryOwnershipError('A thread with this id already exists and belongs to another resource.');
    }
    return saveThread(args);
  };

  domain.saveMessages = async (args) => {
    const ids = args.messages.map((m) => m.id).filter((id): id is string => typeof id === 'string' && id.length > 0);
    const listed = args.messages.flatMap(listedMessageIds);
    if (ids.length > 0 || listed.length > 0) {
      const found = await listMessagesById({ messageIds: [...new Set([...ids, ...listed])] });
      const existing = new Map((Array.isArray(found) ? found : found.messages).map((m) => [m.id, m]));
      for (const message of args.messages) {
        const stored = message.id === undefined ? undefined : existing.get(message.id);
        if (stored && (stored.threadId !== message.threadId || (stored.resourceId ?? message.resourceId) !== message.resourceId)) {
          throw new MemoryOwnershipError('A message with this id already exists in another thread.');
        }
        // A response record lists the messages of its own thread (Mastra's writer saves them with it, or before).
        for (const id of listedMessageIds(message)) {
          const other = existing.get(id) ?? args.messages.find((m) => m.id === id);
          if (other && other.threadId !== message.threadId) throw new MemoryOwnershipError('A response record may list only messages of its own thread.');
        }
      }
    }
    return saveMessages(args);
  };

  // A thread's observational memory is stored under the thread id alone, and Mastra's routes read it for the thread the
  // request names with the resource the request names: served only to the thread's owner, and only if written since
  // the thread was made (a thread deleted without its record, then made again under its id by someone else, is another
  // thread). A record written for another resource is the only case that costs a lookup (a thread moved to another
  // resource keeps its record).
  const mayRead = async (threadId: string | null, resourceId: string, records: readonly (StoredObservations | null)[]): Promise<boolean> => {
    if (threadId === null || records.every((record) => record === null || record.resourceId === resourceId)) return true;
    const thread = await getThreadById({ threadId });
    if (thread === null || thread.resourceId !== resourceId) return false;
    const made = timeOf(thread.createdAt);
    return records.every((record) => record === null || record.resourceId === resourceId || timeOf(record.createdAt) >= made);
  };
  if (typeof domain.getObservationalMemory === 'function') {
    const getObservationalMemory = domain.getObservationalMemory.bind(domain);
    domain.getObservationalMemory = async (threadId, resourceId, ...rest) => {
      const record = await getObservationalMemory(threadId, resourceId, ...rest);
      return (await mayRead(threadId, resourceId, [record])) ? record : null;
    };
  }
  if (typeof domain.getObservationalMemoryHistory === 'function') {
    const getObservationalMemoryHistory = domain.getObservationalMemoryHistory.bind(domain);
    domain.getObservationalMemoryHistory = async (threadId, resourceId, ...rest) => {
      const records = await getObservationalMemoryHistory(threadId, resourceId, ...rest);
      return (await mayRead(threadId, resourceId, records)) ? records : [];
    };
  }
  Object.defineProperty(domain, GUARDED, { value: true });
}

/** The part of Mastra's datasets storage domain this guards (`DatasetsLibSQL`, `DatasetsPG`...). */
interface DatasetsDomain {
  addItem(args: StoredItem): Promise<unknown>;
  updateItem(args: StoredItem): Promise<unknown>;
  batchInsertItems(input: { items: StoredItem[] }): Promise<unknown>;
  getItemById(...args: unknown[]): Promise<unknown>;
  getItemsByVersion(...args: unknown[]): Promise<unknown>;
  listItems(...args: unknown[]): Promise<unknown>;
}

/** A dataset item, as written and read: the request context an experiment runs it with, over the server's own. */
interface StoredItem {
  requestContext?: unknown;
}

function isDatasetsDomain(value: unknown): value is DatasetsDomain {
  return hasMethods(value, ['addItem', 'updateItem', 'batchInsertItems', 'getItemById', 'getItemsByVersion', 'listItems']);
}

/** An item without the request-context keys the server sets itself (`isServerContextKey`); the same item if none. */
function withoutServerKeys<T>(item: T): T {
  const context = (item as StoredItem | null)?.requestContext;
  if (typeof context !== 'object' || context === null || !Object.keys(context).some(isServerContextKey)) return item;
  const kept = Object.entries(context).filter(([key]) => !isServerContextKey(key));
  return { ...item, requestContext: kept.length > 0 ? Object.fromEntries(kept) : undefined };
}

/**
 * A dataset item's stored request context never holds a key the server sets itself. Mastra stores the live request
 * context of a single item, its auth's `user` (the author's claims, session id included) with it: every user who read
 * the dataset saw them, and an experiment over the item ran as its author. Dropped on write, and on read for items
 * stored before; an experiment then runs with the request context of whoever starts it.
 */
function guardDatasets(domain: DatasetsDomain): void {
  if ((domain as unknown as Record<symbol, unknown>)[GUARDED]) return;
  const addItem = domain.addItem.bind(domain);
  const updateItem = domain.updateItem.bind(domain);
  const batchInsertItems = domain.batchInsertItems.bind(domain);
  const getItemById = domain.getItemById.bind(domain);
  const getItemsByVersion = domain.getItemsByVersion.bind(domain);
  const listItems = domain.listItems.bind(domain);
  const cleanList = (items: unknown) => (Array.isArray(items) ? items.map(withoutServerKeys) : items);
  domain.addItem = async (args) => withoutServerKeys(await addItem(withoutServerKeys(args)));
  domain.updateItem = async (args) => withoutServerKeys(await updateItem(withoutServerKeys(args)));
  domain.batchInsertItems = async (input) => cleanList(await batchInsertItems({ ...input, items: input.items.map(withoutServerKeys) }));
  domain.getItemById = async (...args) => withoutServerKeys(await getItemById(...args));
  domain.getItemsByVersion = async (...args) => cleanList(await getItemsByVersion(...args));
  domain.listItems = async (...args) => {
    const page = (await listItems(...args)) as { items?: unknown } | null;
    return page !== null && typeof page === 'object' && Array.isArray(page.items) ? { ...page, items: cleanList(page.items) } : page;
  };
  Object.defineProperty(domain, GUARDED, { value: true });
}

/**
 * Returns the same Mastra storage (`LibSQLStore`, `PostgresStore`, ...) with its memory domain guarded: a thread
 * never changes owner by being created again, a message never moves to another thread by being saved again; and its
 * workflows domain, when it has one: a stored run never changes resource by being persisted again (`start-async` of
 * another user's run id); and its datasets domain, when it has one: an item's request context keeps none of the
 * server's own keys (the author's `user`). Throws at start-up for a storage without a memory domain it recognises.
 *
 * @example
 * import { LibSQLStore } from '@mastra/libsql';
 * import { MastraAuthClerk, protectMemory } from 'clerk-mastra-auth/mastra';
 * const storage = protectMemory(new LibSQLStore({ id: 'app', url: 'file:./data/mastra.db' }));
 * export const mastra = new Mastra({ storage, server: { auth: new MastraAuthClerk() } });
 */
export function protectMemory<Storage extends object>(storage: Storage): Storage {
  const memory = (storage as { stores?: Record<string, unknown> }).stores?.memory;
  if (!isMemoryDomain(memory)) {
    throw new TypeError('protectMemory: the storage has no memory domain (stores.memory) with the methods of Mastra 1.x');
  }
  guard(memory);
  const workflows = (storage as { stores?: Record<string, unknown> }).stores?.workflows;
  if (isWorkflowsDomain(workflows)) guardWorkflows(workflows);
  const datasets = (storage as { stores?: Record<string, unknown> }).stores?.datasets;
  if (isDatasetsDomain(datasets)) guardDatasets(datasets);
  return storage;
}
