"""Redis key layout of the LLM request queue, and the Lua scripts that keep it consistent.

Keys (``P`` = ``redis.key_prefix``)::

    P:llm:high | P:llm:normal | P:llm:low   request streams, consumer group "workers"
    P:llm:results:<origin>                 results for one submitter, its group "submitter"
    P:llm:inflight:<origin>                hash ticket -> request JSON, until answered
    P:llm:cancel_before:<origin>           wall-clock stamp of the origin's last emergency
    P:llm:coalesce:<key>                   the leader request of a coalescing key (PX)
    P:llm:followers:<leader ticket>        list of requests waiting on that leader
    P:llm:drop:<ticket>                    the submitter no longer waits for this request
    P:llm:done:<ticket>                    its outcome was published (idempotence)

A ticket (``LLMRequest.ticket``) is unique per submission, so request ids reused by a
client never collide with an earlier request's bookkeeping.

The scripts run atomically in Redis, so "check the bound then queue", "join a leader
unless it has just finished" and "publish once per ticket, then acknowledge" have no
race between processes. A standalone Redis is assumed (keys are built inside scripts).
"""

GROUP = 'workers'
RESULTS_GROUP = 'submitter'
RESULTS_MAXLEN = 10000


class Keys:
    """Names of every key under ``prefix``."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.streams = [self.stream(p) for p in ('high', 'normal', 'low')]

    def stream(self, priority: str) -> str:
        """Request stream of one priority."""
        return '%s:llm:%s' % (self.prefix, priority)

    def results(self, origin: str) -> str:
        """Results stream of one submitter."""
        return '%s:llm:results:%s' % (self.prefix, origin)

    def inflight(self, origin: str) -> str:
        """Hash of the requests one submitter still waits for."""
        return '%s:llm:inflight:%s' % (self.prefix, origin)

    def cancel_before(self, origin: str) -> str:
        """Stamp before which the origin's requests are cancelled."""
        return '%s:llm:cancel_before:%s' % (self.prefix, origin)

    def coalesce(self, key: str) -> str:
        """Leader of a coalescing key."""
        return '%s:llm:coalesce:%s' % (self.prefix, key)

    def followers_prefix(self) -> str:
        """Prefix of the followers lists (the leader id is appended)."""
        return '%s:llm:followers:' % self.prefix

    def drop(self, ticket: str) -> str:
        """Marker: nobody waits for this submission any more."""
        return '%s:llm:drop:%s' % (self.prefix, ticket)

    def done_prefix(self) -> str:
        """Prefix of the published-outcome markers (the ticket is appended)."""
        return '%s:llm:done:' % self.prefix


SUBMIT = """
-- KEYS: coalesce key, stream high, stream normal, stream low, inflight hash,
--       drop marker of the ticket, done marker of the ticket
-- ARGV: request json, ticket, rank, queue size, lock ttl ms, group,
--       followers prefix, followers ttl ms, coalesce '1'|'0', then the XADD field pairs
-- A ticket is queued once: a copy of this call that runs again (redis-py resending it
-- after a timeout, or a stalled Redis running a call its client gave up on) after the
-- ticket was queued, answered or dropped changes nothing.
if redis.call('EXISTS', KEYS[6]) == 1 or redis.call('EXISTS', KEYS[7]) == 1 then
  return {'dropped', ARGV[2]}
end
if redis.call('HEXISTS', KEYS[5], ARGV[2]) == 1 then
  return {'again', ARGV[2]}
end
local rank = tonumber(ARGV[3])
if ARGV[9] == '1' then
  local leader = redis.call('GET', KEYS[1])
  if leader then
    local l = cjson.decode(leader)
    if tonumber(l.rank) <= rank then
      local fkey = ARGV[7] .. l.id
      redis.call('RPUSH', fkey, ARGV[1])
      redis.call('PEXPIRE', fkey, ARGV[8])
      redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
      return {'joined', l.id}
    end
  end
end
local waiting = 0
for i = 2, 4 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.pcall('XGROUP', 'CREATE', KEYS[i], ARGV[6], '0', 'MKSTREAM')
  end
  local pending = redis.pcall('XPENDING', KEYS[i], ARGV[6])
  local held = 0
  if type(pending) == 'table' and pending[1] then held = tonumber(pending[1]) end
  waiting = waiting + redis.call('XLEN', KEYS[i]) - held
end
if waiting >= tonumber(ARGV[4]) then
  return {'busy', tostring(waiting)}
end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2 + rank], '*', unpack(fields))
if ARGV[9] == '1' then
  redis.call('SET', KEYS[1], cjson.encode({id = ARGV[2], rank = rank}), 'PX', ARGV[5])
end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
return {'queued', id}
"""

CLOSE = """
-- KEYS: coalesce key, followers list.  ARGV: leader ticket.
-- Ends joining (deletes the lock if it is still this leader's) and returns the followers;
-- the list is kept (with its TTL) so a worker that reclaims the leader finds them again.
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).id == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

PUBLISH = """
-- KEYS: request stream, followers list.  ARGV: group, entry id, done prefix, results
-- prefix, done ttl ms, results maxlen, then (ticket, request id, origin, outcome json)
-- quadruplets. Publishes each outcome unless one was already published for that ticket,
-- then acknowledges and deletes the request entry.
local sent = 0
for i = 7, #ARGV, 4 do
  if redis.call('SET', ARGV[3] .. ARGV[i], '1', 'NX', 'PX', ARGV[5]) then
    redis.call('XADD', ARGV[4] .. ARGV[i + 2], 'MAXLEN', '~', ARGV[6], '*',
               'ticket', ARGV[i], 'request_id', ARGV[i + 1], 'outcome', ARGV[i + 3])
    sent = sent + 1
  end
end
if ARGV[2] ~= '' then
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])  -- the group may be gone after a restart
  redis.call('XDEL', KEYS[1], ARGV[2])
end
redis.call('DEL', KEYS[2])
return sent
"""

RAISE_STAMP = """
-- KEYS: cancel_before key.  ARGV: stamp, ttl ms.  Keeps the largest stamp.
local cur = redis.call('GET', KEYS[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""
