import RESP

/// The fleet extension's scripts: one per call, whatever the number of agents. They share
/// the calling convention and prelude of ``RedisScripts``.
extension RedisScripts {
    /// Registers or renews a relay, then places and renews its agents, atomically.
    ///
    /// Every agent placed or renewed gets the same deadline, so the index updates are
    /// collected and written with one `ZADD` per index and thousand agents; only the
    /// agent's hash is written one by one. The capacity count is kept in the script: it
    /// is read once, and again only after pruning (once per sync, at the agent limit).
    ///
    /// ARGV: 3 encoded relay ID, 4 `1` to register-or-renew or '' to renew only, 5 address,
    /// 6 port, 7 relay TTL ms, 8 relay limit, 9 agent TTL ms, 10 agent limit, 11 GC margin
    /// ms, 12 how many agents to place (P), then the agents to place and after them the
    /// agents to renew, each as an ordered member (``RedisKeySchema/orderedMember(_:)``).
    /// Reply: {`full`, now}, {`missing`, now}, or {`ok`, now, incarnation, 1 if started
    /// else 0, relay deadline, 1 if recreated else 0, placements moved, then per lost agent:
    /// its position among the agents (1-based, placements first), `capacity`, `draining`,
    /// `not-live` or `elsewhere`, and the encoded relay it is on (for `elsewhere`, else '')}.
    /// A draining relay (its hash's `drain` field, which a new incarnation does not have)
    /// loses each placement not already live on it with `draining`.
    ///
    /// Recreated and moved are judged as `registerRelay` and `registerAgent` judge them: a
    /// new incarnation is recreated while the expired relay's hash (until its `PEXPIRE`) or
    /// its index entry (until pruned) is still there, else created; a placement moved when
    /// the agent was live on another relay's current incarnation.
    static let syncRelay = RESPScript(
        prelude + """
            local b, register, addr, port = ARGV[3], ARGV[4] == '1', ARGV[5], ARGV[6]
            local relay_ttl, relay_limit = tonumber(ARGV[7]), tonumber(ARGV[8])
            local agent_ttl, agent_limit = tonumber(ARGV[9]), tonumber(ARGV[10])
            local margin, placing = tonumber(ARGV[11]), tonumber(ARGV[12])
            local first = 13
            local key = relay_key(b)

            -- 1. The relay, exactly as registerRelay or heartbeatRelay.
            local rdl = now + relay_ttl
            local current = redis.call('HMGET', key, 'dl', 'inc', 'addr', 'port', 'drain')
            local current_dl = tonumber(current[1])
            local live = current_dl and current[2] and now < current_dl
            local inc, started, recreated = current[2], 0, 0
            if register then
              if live then
                redis.call('HSET', key, 'addr', addr, 'port', port, 'hb', int(now), 'dl', int(rdl))
              else
                if redis.call('ZCOUNT', relays_index, '(' .. int(now), '+inf') >= relay_limit then
                  return { 'full', now }
                end
                if current_dl or redis.call('ZSCORE', relays_index, b) then recreated = 1 end
                -- A new incarnation: agents placed on an earlier one stay dead, so forget them.
                drop_relay_agents(b)
                inc = int(redis.call('INCR', incarnations))
                redis.call('DEL', key)
                redis.call('HSET', key, 'addr', addr, 'port', port, 'hb', int(now), 'dl', int(rdl), 'inc', inc)
                started = 1
              end
            else
              if not (live and current[3] and current[4]) then return { 'missing', now } end
              redis.call('HSET', key, 'hb', int(now), 'dl', int(rdl))
            end
            redis.call('PEXPIRE', key, int(relay_ttl + margin))
            redis.call('ZADD', relays_index, int(rdl), b)
            keep_for(relays_index, relay_ttl + margin)
            order_add(relays_by_id, b)
            keep_for(relays_by_id, relay_ttl + margin)

            -- Draining belongs to the incarnation: a new one (started) starts without it.
            local draining = started == 0 and current[5] ~= false

            -- out[7], the placements moved off another live relay, is counted below.
            local out = { 'ok', now, inc, started, rdl, recreated, 0 }
            local function lose(position, reason, relay)
              out[#out + 1] = position
              out[#out + 1] = reason
              out[#out + 1] = relay
            end

            -- Live relays seen so far ({deadline, incarnation} or false); this one as just renewed.
            local relays = { [b] = { rdl, inc } }
            -- An agent's hash fields, and whether it is live on the incarnation it names.
            local function agent_state(a)
              local r = redis.call('HMGET', agent_key(a), 'relay', 'inc', 'hb', 'dl')
              local dl = tonumber(r[4])
              if r[1] and r[2] and tonumber(r[3]) and dl and now < dl then
                local c = relays[r[1]]
                if c == nil then
                  local xdl, xinc = live_relay(r[1])
                  c = xdl and { xdl, xinc } or false
                  relays[r[1]] = c
                end
                if c and c[2] == r[2] then return r, true end
              end
              return r, false
            end

            -- Index entries of the agents placed or renewed so far, all due at agent_dl.
            local agent_dl = now + agent_ttl
            local pending_ids, pending_members = {}, {}
            local function zadd_all(index, score, members)
              local args = {}
              for i = 1, #members do
                args[#args + 1] = score
                args[#args + 1] = members[i]
                if #args >= 2000 then
                  redis.call('ZADD', index, unpack(args))
                  args = {}
                end
              end
              if #args > 0 then redis.call('ZADD', index, unpack(args)) end
            end
            local function flush()
              zadd_all(agents_index, int(agent_dl), pending_ids)
              zadd_all(relay_agents_key(b), int(agent_dl), pending_ids)
              zadd_all(agents_by_id, 0, pending_members)
              zadd_all(relay_agents_by_id_key(b), 0, pending_members)
              pending_ids, pending_members = {}, {}
            end
            local function renew(a, m)
              redis.call('HSET', agent_key(a), 'relay', b, 'inc', inc, 'hb', int(now), 'dl', int(agent_dl))
              redis.call('PEXPIRE', agent_key(a), int(agent_ttl + margin))
              pending_ids[#pending_ids + 1] = a
              pending_members[#pending_members + 1] = m
            end

            -- Live agents by their own deadline (as registerAgent counts them), kept current
            -- as agents are added; and whether agent a is among them.
            local count = redis.call('ZCOUNT', agents_index, '(' .. int(now), '+inf')
            local function counted(a)
              local own = tonumber(redis.call('ZSCORE', agents_index, a))
              return own ~= nil and now < own
            end
            local pruned = false

            -- 2. Placements, as registerAgent: onto this incarnation, off any other relay.
            for i = first, first + placing - 1 do
              local m = ARGV[i]
              local a = ordered_id(m)
              local r, agent_live = agent_state(a)
              local room = true
              if draining and not (agent_live and r[1] == b) then
                room = false
                lose(i - first + 1, 'draining', '')
              elseif not agent_live then
                local own = counted(a)
                if count - (own and 1 or 0) >= agent_limit and not pruned then
                  -- Pending entries first, so that pruning sees this sync's agents as live.
                  flush()
                  prune(prune_batch)
                  pruned = true
                  count = redis.call('ZCOUNT', agents_index, '(' .. int(now), '+inf')
                  own = counted(a)
                end
                if count - (own and 1 or 0) >= agent_limit then
                  room = false
                  lose(i - first + 1, 'capacity', '')
                elseif not own then
                  count = count + 1
                end
              end
              if room then
                if agent_live and r[1] ~= b then out[7] = out[7] + 1 end
                if r[1] and (r[1] ~= b or r[2] ~= inc) then
                  redis.call('ZREM', relay_agents_key(r[1]), a)
                  redis.call('ZREM', relay_agents_by_id_key(r[1]), m)
                end
                renew(a, m)
              end
            end

            -- 3. Renewals: only agents live on this incarnation; never a move.
            for i = first + placing, #ARGV do
              local m = ARGV[i]
              local a = ordered_id(m)
              local r, agent_live = agent_state(a)
              if not agent_live then
                lose(i - first + 1, 'not-live', '')
              elseif r[1] ~= b then
                lose(i - first + 1, 'elsewhere', r[1])
              else
                renew(a, m)
              end
            end

            flush()
            if #ARGV >= first then
              keep_for(agents_index, agent_ttl + margin)
              keep_for(agents_by_id, agent_ttl + margin)
              keep_for(relay_agents_key(b), agent_ttl + margin)
              keep_for(relay_agents_by_id_key(b), agent_ttl + margin)
            end
            return out
            """
    )

    /// The placements of agents, live or not.
    /// ARGV: 3... encoded agent IDs.
    /// Reply: {now, then per agent: encoded relay ('' when not live), last heartbeat,
    /// deadline, relay incarnation}.
    static let placements = RESPScript(
        prelude + """
            local out = { now }
            local relays = {}
            for i = 3, #ARGV do
              local b, hb, dl, inc = live_agent(ARGV[i], relays)
              if b then
                out[#out + 1] = b
                out[#out + 1] = hb
                out[#out + 1] = dl
                out[#out + 1] = inc
              else
                out[#out + 1] = ''
                out[#out + 1] = ''
                out[#out + 1] = 0
                out[#out + 1] = ''
              end
            end
            return out
            """
    )

    /// A page of live placements in agent ID order, of one relay or of all.
    /// ARGV: 3 encoded relay ID or '' for all, 4 `ZRANGEBYLEX` start, 5 limit, 6 budget.
    /// Reply: as `walk`, with per agent: encoded ID, encoded relay, last heartbeat,
    /// deadline, relay incarnation.
    static let listPlacements = RESPScript(
        prelude + orderedWalk + """
            local b, start, limit, budget = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
            local index = agents_by_id
            if b ~= '' then
              if not live_relay(b) then return { now, 0, '' } end
              index = relay_agents_by_id_key(b)
            end
            local relays = {}
            return walk(index, start, limit, budget, function(a, fields)
              local rb, hb, dl, inc = live_agent(a, relays)
              if not rb or (b ~= '' and rb ~= b) then return false end
              fields[1], fields[2], fields[3], fields[4], fields[5] = a, rb, hb, dl, inc
              return true
            end)
            """
    )

    /// A page of live relays in ID order, with their live agents counted.
    ///
    /// A relay's agent set holds only agents placed on its current incarnation (a new
    /// incarnation or the relay's deregistration deletes it; a move or the agent's
    /// deregistration removes the agent), scored by their own deadlines,
    /// so `ZCOUNT` over the future counts exactly its live agents, in O(log n).
    /// ARGV: 3 `ZRANGEBYLEX` start, 4 limit, 5 budget.
    /// Reply: as `walk`, with per relay: encoded ID, address, port, last heartbeat,
    /// deadline, incarnation, live agents, 1 if draining else 0.
    static let listRelayStatuses = RESPScript(
        prelude + orderedWalk + """
            return walk(relays_by_id, ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), function(b, fields)
              local r = redis.call('HMGET', relay_key(b), 'dl', 'inc', 'addr', 'port', 'hb', 'drain')
              local dl = tonumber(r[1])
              if not (dl and r[2] and r[3] and r[4] and r[5] and now < dl) then return false end
              local agents = redis.call('ZCOUNT', relay_agents_key(b), '(' .. int(now), '+inf')
              fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7] = b, r[3], r[4], r[5], dl, r[2], agents
              fields[8] = r[6] and 1 or 0
              return true
            end)
            """
    )
}
