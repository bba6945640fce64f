import RESP

/// The Lua scripts behind every operation of ``RedisBackend``: each operation is one
/// script, so it is atomic, and each reads the time once, from the Redis server's
/// `TIME`, so replicas with skewed clocks agree.
///
/// Calling convention, shared by every script:
/// - `KEYS[1]` names the main key the script touches (for routing; every key shares the
///   namespace's hash tag, so the keys a script builds itself are in the same slot);
/// - `ARGV[1]` is the key namespace (``RedisKeySchema/root``); `ARGV[2]` is empty in
///   production (the time is `TIME`), and in tests either a fixed time in milliseconds or
///   `+` and milliseconds to add to `TIME` (see ``RedisTimeSource``);
/// - the script's own arguments follow from `ARGV[3]`.
///
/// Liveness is decided by the deadlines stored in the hashes (`dl`), compared with the
/// script's `now`; `PEXPIRE` on the hashes (TTL plus a margin) is garbage collection only.
enum RedisScripts {
    /// Definitions every script starts with.
    static let prelude = """
        local ns = ARGV[1]
        local now
        if ARGV[2] == '' or string.sub(ARGV[2], 1, 1) == '+' then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          if ARGV[2] ~= '' then now = now + tonumber(string.sub(ARGV[2], 2)) end
        else
          now = tonumber(ARGV[2])
        end
        local function int(n) return string.format('%d', n) end
        local function relay_key(b) return ns .. '\(RedisKeySchema.relaySegment)' .. b end
        local function agent_key(b) return ns .. '\(RedisKeySchema.agentSegment)' .. b end
        local function relay_agents_key(b) return ns .. '\(RedisKeySchema.relayAgentsSegment)' .. b end
        local relays_index = ns .. '\(RedisKeySchema.relaysIndexName)'
        local agents_index = ns .. '\(RedisKeySchema.agentsIndexName)'
        local incarnations = ns .. '\(RedisKeySchema.incarnationsName)'
        \(idOrder)

        -- Makes a key live at least ms more milliseconds (never shortens its life).
        local function keep_for(key, ms)
          local ttl = redis.call('PTTL', key)
          if ttl == -1 or (ttl >= 0 and ttl < ms) then
            redis.call('PEXPIRE', key, int(ms))
          end
        end

        -- The deadline and incarnation of a live relay, or nil.
        local function live_relay(b)
          local r = redis.call('HMGET', relay_key(b), 'dl', 'inc')
          local dl = tonumber(r[1])
          if dl and r[2] and now < dl then return dl, r[2] end
          return nil
        end

        -- A live agent's relay (encoded), last heartbeat (string), deadline (the earlier
        -- of its own and its relay's) and relay incarnation (string), or nil. Live means:
        -- its own deadline has not passed, and the relay incarnation it was placed on is live.
        local function live_agent(a, relay_cache)
          local r = redis.call('HMGET', agent_key(a), 'relay', 'inc', 'hb', 'dl')
          local dl = tonumber(r[4])
          if not (r[1] and r[2] and tonumber(r[3]) and dl and now < dl) then return nil end
          local rdl, rinc
          if relay_cache then
            local cached = relay_cache[r[1]]
            if cached == nil then
              rdl, rinc = live_relay(r[1])
              relay_cache[r[1]] = rdl and { rdl, rinc } or false
            elseif cached then
              rdl, rinc = cached[1], cached[2]
            end
          else
            rdl, rinc = live_relay(r[1])
          end
          if not rdl or rinc ~= r[2] then return nil end
          return r[1], r[3], math.min(dl, rdl), r[2]
        end

        -- Forgets every agent placed on relay b (any incarnation): their hashes, their
        -- entries in the agents indexes, and the relay's agent sets. Returns how many.
        local function drop_relay_agents(b)
          local set = relay_agents_key(b)
          local dropped = 0
          for _, a in ipairs(redis.call('ZRANGE', set, 0, -1)) do
            local placed = redis.call('HGET', agent_key(a), 'relay')
            if placed == b or not placed then
              if placed then redis.call('DEL', agent_key(a)) end
              redis.call('ZREM', agents_index, a)
              order_remove(agents_by_id, a)
              dropped = dropped + 1
            end
          end
          redis.call('DEL', set, relay_agents_by_id_key(b))
          return dropped
        end

        -- Removes up to about limit index entries whose deadlines have passed, with the
        -- hashes they name; a relay goes with its agents. An entry renewed since (its
        -- hash's deadline is later) gets its score repaired instead: never removed.
        local function prune(limit)
          local relays, agents = 0, 0
          for _, b in ipairs(redis.call('ZRANGEBYSCORE', relays_index, '-inf', int(now), 'LIMIT', 0, limit)) do
            local dl = tonumber(redis.call('HGET', relay_key(b), 'dl'))
            if dl and now < dl then
              redis.call('ZADD', relays_index, int(dl), b)
            else
              agents = agents + drop_relay_agents(b)
              redis.call('DEL', relay_key(b))
              redis.call('ZREM', relays_index, b)
              order_remove(relays_by_id, b)
              relays = relays + 1
            end
          end
          local remaining = limit - relays - agents
          if remaining > 0 then
            for _, a in ipairs(redis.call('ZRANGEBYSCORE', agents_index, '-inf', int(now), 'LIMIT', 0, remaining)) do
              local r = redis.call('HMGET', agent_key(a), 'relay', 'dl')
              local dl = tonumber(r[2])
              if dl and now < dl then
                redis.call('ZADD', agents_index, int(dl), a)
              else
                if r[1] then
                  redis.call('ZREM', relay_agents_key(r[1]), a)
                  order_remove(relay_agents_by_id_key(r[1]), a)
                end
                redis.call('DEL', agent_key(a))
                redis.call('ZREM', agents_index, a)
                order_remove(agents_by_id, a)
                agents = agents + 1
              end
            end
          end
          return relays, agents
        end

        -- Live agents, not counting agent a itself.
        local function live_agents_besides(a)
          local count = redis.call('ZCOUNT', agents_index, '(' .. int(now), '+inf')
          local own = tonumber(redis.call('ZSCORE', agents_index, a))
          if own and now < own then count = count - 1 end
          return count
        end

        -- One page of an index in (score, member) order, from the entry after the cursor
        -- (or from the first live entry), as a flat {member, score, ...} list.
        local function index_page(index, cursor_score, cursor_member, n)
          if cursor_member == '' then
            return redis.call('ZRANGEBYSCORE', index, '(' .. int(now), '+inf', 'WITHSCORES', 'LIMIT', 0, n)
          end
          if redis.call('ZSCORE', index, cursor_member) == cursor_score then
            local rank = redis.call('ZRANK', index, cursor_member)
            return redis.call('ZRANGE', index, rank + 1, rank + n, 'WITHSCORES')
          end
          -- The cursor entry was renewed or removed meanwhile: resume at its old score.
          -- Entries already seen at that score come again; the caller drops duplicates.
          return redis.call('ZRANGEBYSCORE', index, cursor_score, '+inf', 'WITHSCORES', 'LIMIT', 0, n)
        end

        -- How many entries a script may prune when a capacity limit is reached.
        local prune_batch = 1000

        """

    /// Creates, renews or re-creates a relay.
    /// ARGV: 3 encoded relay ID, 4 address, 5 port, 6 relay TTL ms, 7 relay limit, 8 GC margin ms.
    /// Reply: {outcome, now} with outcome `renewed`, `created`, `recreated` or `full`.
    static let registerRelay = RESPScript(
        prelude + """
            local b, addr, port = ARGV[3], ARGV[4], ARGV[5]
            local ttl, limit, margin = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
            local key = relay_key(b)
            local dl = now + ttl
            local current = redis.call('HMGET', key, 'dl', 'inc')
            local current_dl = tonumber(current[1])
            if current_dl and current[2] and now < current_dl then
              redis.call('HSET', key, 'addr', addr, 'port', port, 'hb', int(now), 'dl', int(dl))
              redis.call('PEXPIRE', key, int(ttl + margin))
              redis.call('ZADD', relays_index, int(dl), b)
              keep_for(relays_index, ttl + margin)
              order_add(relays_by_id, b)
              keep_for(relays_by_id, ttl + margin)
              return { 'renewed', now }
            end
            local outcome = 'created'
            if current_dl or redis.call('ZSCORE', relays_index, b) then outcome = 'recreated' end
            if redis.call('ZCOUNT', relays_index, '(' .. int(now), '+inf') >= limit then
              return { 'full', now }
            end
            -- A new incarnation: agents placed on an earlier one stay dead, so forget them.
            drop_relay_agents(b)
            local inc = redis.call('INCR', incarnations)
            redis.call('DEL', key)
            redis.call('HSET', key, 'addr', addr, 'port', port, 'hb', int(now), 'dl', int(dl), 'inc', inc)
            redis.call('PEXPIRE', key, int(ttl + margin))
            redis.call('ZADD', relays_index, int(dl), b)
            keep_for(relays_index, ttl + margin)
            order_add(relays_by_id, b)
            keep_for(relays_by_id, ttl + margin)
            return { outcome, now }
            """
    )

    /// Renews a live relay.
    /// ARGV: 3 encoded relay ID, 4 relay TTL ms, 5 GC margin ms.
    /// Reply: {`ok`, now, address, port} or {`missing`, now}.
    static let heartbeatRelay = RESPScript(
        prelude + """
            local b, ttl, margin = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
            local key = relay_key(b)
            local r = redis.call('HMGET', key, 'dl', 'inc', 'addr', 'port')
            local current_dl = tonumber(r[1])
            if not (current_dl and r[2] and r[3] and r[4] and now < current_dl) then
              return { 'missing', now }
            end
            local dl = now + ttl
            redis.call('HSET', key, 'hb', int(now), 'dl', int(dl))
            redis.call('PEXPIRE', key, int(ttl + margin))
            redis.call('ZADD', relays_index, int(dl), b)
            keep_for(relays_index, ttl + margin)
            -- Also indexes relays written before the ID-ordered index existed.
            order_add(relays_by_id, b)
            keep_for(relays_by_id, ttl + margin)
            return { 'ok', now, r[3], r[4] }
            """
    )

    /// Places an agent on a live relay, moving it off any other, and renews it. A draining
    /// relay only renews an agent already live on it.
    /// ARGV: 3 encoded agent ID, 4 encoded relay ID, 5 agent TTL ms, 6 agent limit, 7 GC margin ms.
    /// Reply: {`ok`, now, encoded previous live relay or ''}, {`no-relay`, now}, {`draining`, now}
    /// or {`full`, now}.
    static let registerAgent = RESPScript(
        prelude + """
            local a, b = ARGV[3], ARGV[4]
            local ttl, limit, margin = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
            local relay_dl, relay_inc = live_relay(b)
            if not relay_dl then return { 'no-relay', now } end
            local key = agent_key(a)
            local current = redis.call('HMGET', key, 'relay', 'inc')
            local live_on = live_agent(a)
            if live_on ~= b and redis.call('HEXISTS', relay_key(b), 'drain') == 1 then
              return { 'draining', now }
            end
            local previous = ''
            if current[1] and (current[1] ~= b or current[2] ~= relay_inc) then
              if live_on and current[1] ~= b then previous = current[1] end
              redis.call('ZREM', relay_agents_key(current[1]), a)
              order_remove(relay_agents_by_id_key(current[1]), a)
            end
            if not live_on and live_agents_besides(a) >= limit then
              prune(prune_batch)
              if live_agents_besides(a) >= limit then return { 'full', now } end
            end
            local dl = now + ttl
            redis.call('HSET', key, 'relay', b, 'inc', relay_inc, 'hb', int(now), 'dl', int(dl))
            redis.call('PEXPIRE', key, int(ttl + margin))
            redis.call('ZADD', agents_index, int(dl), a)
            keep_for(agents_index, ttl + margin)
            redis.call('ZADD', relay_agents_key(b), int(dl), a)
            keep_for(relay_agents_key(b), ttl + margin)
            order_add(agents_by_id, a)
            keep_for(agents_by_id, ttl + margin)
            order_add(relay_agents_by_id_key(b), a)
            keep_for(relay_agents_by_id_key(b), ttl + margin)
            return { 'ok', now, previous }
            """
    )

    /// Renews a live agent on the relay it is placed on, optionally only if that is the expected one.
    /// ARGV: 3 encoded agent ID, 4 encoded expected relay ID or '', 5 agent TTL ms, 6 GC margin ms.
    /// Reply: {`ok`, now, encoded relay}, {`elsewhere`, now, encoded relay} or {`missing`, now}.
    static let heartbeatAgent = RESPScript(
        prelude + """
            local a, expected = ARGV[3], ARGV[4]
            local ttl, margin = tonumber(ARGV[5]), tonumber(ARGV[6])
            local b = live_agent(a)
            if not b then return { 'missing', now } end
            if expected ~= '' and expected ~= b then return { 'elsewhere', now, b } end
            local dl = now + ttl
            redis.call('HSET', agent_key(a), 'hb', int(now), 'dl', int(dl))
            redis.call('PEXPIRE', agent_key(a), int(ttl + margin))
            redis.call('ZADD', agents_index, int(dl), a)
            keep_for(agents_index, ttl + margin)
            redis.call('ZADD', relay_agents_key(b), int(dl), a)
            keep_for(relay_agents_key(b), ttl + margin)
            -- Also indexes agents written before the ID-ordered indexes existed.
            order_add(agents_by_id, a)
            keep_for(agents_by_id, ttl + margin)
            order_add(relay_agents_by_id_key(b), a)
            keep_for(relay_agents_by_id_key(b), ttl + margin)
            return { 'ok', now, b }
            """
    )

    /// The placement of a live agent.
    /// ARGV: 3 encoded agent ID.
    /// Reply: {`ok`, now, encoded relay, last heartbeat} or {`missing`, now}.
    static let placement = RESPScript(
        prelude + """
            local b, hb = live_agent(ARGV[3])
            if not b then return { 'missing', now } end
            return { 'ok', now, b, hb }
            """
    )

    /// One page of live relays.
    /// ARGV: 3 cursor score, 4 cursor member ('' for the first page), 5 page size.
    /// Reply: {now, next cursor score, next cursor member ('' when done),
    /// then per live relay: encoded ID, address, port, last heartbeat, deadline}.
    static let listRelays = RESPScript(
        prelude + """
            local n = tonumber(ARGV[5])
            local page = index_page(relays_index, ARGV[3], ARGV[4], n)
            local out = { now, '', '' }
            for i = 1, #page, 2 do
              local b = page[i]
              local r = redis.call('HMGET', relay_key(b), 'dl', 'inc', 'addr', 'port', 'hb')
              local dl = tonumber(r[1])
              if dl and r[2] and r[3] and r[4] and r[5] and now < dl then
                out[#out + 1] = b
                out[#out + 1] = r[3]
                out[#out + 1] = r[4]
                out[#out + 1] = r[5]
                out[#out + 1] = dl
              end
            end
            if #page == 2 * n then
              out[2], out[3] = page[#page], page[#page - 1]
            end
            return out
            """
    )

    /// One page of live agents.
    /// ARGV: 3 cursor score, 4 cursor member ('' for the first page), 5 page size.
    /// Reply: {now, next cursor score, next cursor member ('' when done),
    /// then per live agent: encoded ID, encoded relay, last heartbeat, deadline}.
    static let listAgents = RESPScript(
        prelude + """
            local n = tonumber(ARGV[5])
            local page = index_page(agents_index, ARGV[3], ARGV[4], n)
            local out = { now, '', '' }
            local relays = {}
            for i = 1, #page, 2 do
              local a = page[i]
              local b, hb, dl = live_agent(a, relays)
              if b then
                out[#out + 1] = a
                out[#out + 1] = b
                out[#out + 1] = hb
                out[#out + 1] = dl
              end
            end
            if #page == 2 * n then
              out[2], out[3] = page[#page], page[#page - 1]
            end
            return out
            """
    )

    /// Index pruning: removes up to about a limit of expired entries.
    /// ARGV: 3 limit. Reply: {relays removed, agents removed}.
    static let removeExpired = RESPScript(
        prelude + """
            local relays, agents = prune(tonumber(ARGV[3]))
            return { relays, agents }
            """
    )
}
