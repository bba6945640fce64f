import RESP

/// The admin operations' scripts (docs/contract.md, "Admin operations"): one per call,
/// whatever the number of agents. They share the calling convention and prelude of
/// ``RedisScripts``.
///
/// Deregistering removes entries exactly as index pruning removes expired ones (hashes,
/// deadline indexes, ID-ordered indexes, the relay's agent sets), so every count the other
/// scripts take (capacity by `ZCOUNT` over the deadline indexes, a relay's live agents by
/// `ZCOUNT` over its agent set) stays right, and outage grace finds nothing left to extend.
extension RedisScripts {
    /// Ends a live relay's incarnation: deletes its hash (with its incarnation and `drain`
    /// field) and its agents, and takes them out of every index. The incarnation counter is
    /// untouched, so registering the relay again starts a new incarnation.
    ///
    /// The live agents are counted as `listRelayStatuses` counts them: the relay's agent
    /// set holds only agents of its current incarnation, scored by their own deadlines.
    /// ARGV: 3 encoded relay ID.
    /// Reply: {`ok`, now, live agents the relay had} or {`missing`, now}.
    static let deregisterRelay = RESPScript(
        prelude + """
            local b = ARGV[3]
            if not live_relay(b) then return { 'missing', now } end
            local agents = redis.call('ZCOUNT', relay_agents_key(b), '(' .. int(now), '+inf')
            drop_relay_agents(b)
            redis.call('DEL', relay_key(b))
            redis.call('ZREM', relays_index, b)
            order_remove(relays_by_id, b)
            return { 'ok', now, agents }
            """
    )

    /// Ends a live agent's placement, only if it is live on the expected relay when one is
    /// given: deletes its hash and takes it out of every index.
    /// ARGV: 3 encoded agent ID, 4 encoded expected relay ID or ''.
    /// Reply: {`ok`, now, encoded relay}, {`elsewhere`, now, encoded relay} or {`missing`, now}.
    static let deregisterAgent = RESPScript(
        prelude + """
            local a, expected = ARGV[3], ARGV[4]
            local b = live_agent(a)
            if not b then return { 'missing', now } end
            if expected ~= '' and expected ~= b then return { 'elsewhere', now, b } end
            redis.call('DEL', agent_key(a))
            redis.call('ZREM', agents_index, a)
            order_remove(agents_by_id, a)
            redis.call('ZREM', relay_agents_key(b), a)
            order_remove(relay_agents_by_id_key(b), a)
            return { 'ok', now, b }
            """
    )

    /// Starts or ends draining a live relay: the `drain` field of its hash, which renewals
    /// keep (they write other fields) and a new incarnation drops (it replaces the hash).
    /// Renews nothing and leaves the hash's expiry as it is.
    /// ARGV: 3 encoded relay ID, 4 `1` to drain or '' to undrain.
    /// Reply: {`ok`, now} or {`missing`, now}.
    static let setDraining = RESPScript(
        prelude + """
            local b = ARGV[3]
            if not live_relay(b) then return { 'missing', now } end
            if ARGV[4] == '1' then
              redis.call('HSET', relay_key(b), 'drain', '1')
            else
              redis.call('HDEL', relay_key(b), 'drain')
            end
            return { 'ok', now }
            """
    )
}
