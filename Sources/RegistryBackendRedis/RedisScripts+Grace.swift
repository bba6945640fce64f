import RESP

extension RedisScripts {
    /// Outage grace (docs/degraded-operation.md): every relay and agent that was live when
    /// the outage began and has not been renewed since gets its deadline moved later by
    /// the outage's length, at most the grace bound. Windows already granted by another
    /// replica (the `grace-until` key, in Redis time) count once.
    ///
    /// One script, so no request is judged between two extensions; it touches every entry
    /// live at the outage's start (bounded by the capacity limits), once per outage.
    /// ARGV: 3 milliseconds since the outage started (the caller's measure), 4 grace bound
    /// ms, 5 relay TTL ms, 6 agent TTL ms, 7 GC margin ms.
    /// Reply: {`ok`, now, grace granted ms, relays extended, agents extended}.
    static let applyOutageGrace = RESPScript(
        prelude + """
            local since, bound = tonumber(ARGV[3]), tonumber(ARGV[4])
            local relay_ttl, agent_ttl, margin = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
            local until_key = ns .. '\(RedisKeySchema.graceUntilName)'
            local start = now - since
            local granted_until = tonumber(redis.call('GET', until_key))
            if granted_until and granted_until > start then start = granted_until end
            if start >= now then return { 'ok', now, 0, 0, 0 } end
            local grace = math.min(now - start, bound)
            local cutoff = start + math.floor(grace / 2)
            redis.call('SET', until_key, int(now), 'PX', int(relay_ttl + agent_ttl + bound + margin))
            -- Extends the entries of an index live at start and not renewed since.
            local function extend(index, key_of, ttl, extra)
              local extended = 0
              for _, m in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. int(start), '+inf')) do
                local key = key_of(m)
                local r = redis.call('HMGET', key, 'hb', 'dl')
                local hb, dl = tonumber(r[1]), tonumber(r[2])
                if hb and dl and hb < cutoff and start < dl then
                  dl = dl + grace
                  redis.call('HSET', key, 'dl', int(dl))
                  redis.call('ZADD', index, int(dl), m)
                  keep_for(key, dl - now + margin)
                  if extra then extra(m, dl) end
                  extended = extended + 1
                end
              end
              keep_for(index, ttl + grace + margin)
              return extended
            end
            local relays = extend(relays_index, relay_key, relay_ttl, function(b, dl)
              keep_for(relay_agents_key(b), agent_ttl + grace + margin)
              keep_for(relay_agents_by_id_key(b), agent_ttl + grace + margin)
            end)
            local agents = extend(agents_index, agent_key, agent_ttl, function(a, dl)
              local b = redis.call('HGET', agent_key(a), 'relay')
              if b then redis.call('ZADD', relay_agents_key(b), 'XX', int(dl), a) end
            end)
            keep_for(relays_by_id, relay_ttl + grace + margin)
            keep_for(agents_by_id, agent_ttl + grace + margin)
            return { 'ok', now, grace, relays, agents }
            """
    )
}
