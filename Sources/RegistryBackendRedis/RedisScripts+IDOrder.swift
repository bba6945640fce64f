/// The ID-ordered indexes in the scripts. Base64url, which names keys, does not sort as
/// the bytes it encodes, so the `-by-id` sorted sets hold members that start with the raw
/// ID (``RedisKeySchema/orderedMember(_:)``), all with score 0, and `ZRANGEBYLEX` walks
/// them in ID order.
extension RedisScripts {
    /// Part of the prelude: the indexes' keys, the member of an encoded ID (decoding
    /// base64url in Lua, for scripts that only have the encoded ID), and adding and
    /// removing members.
    static let idOrder = """
        local relays_by_id = ns .. '\(RedisKeySchema.relaysByIDIndexName)'
        local agents_by_id = ns .. '\(RedisKeySchema.agentsByIDIndexName)'
        local function relay_agents_by_id_key(b) return ns .. '\(RedisKeySchema.relayAgentsByIDSegment)' .. b end
        local nul = string.char(0)

        -- base64url digit values, to recover an ID's bytes from its encoding.
        local b64 = {}
        for i = 1, 64 do
          b64[string.byte('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', i)] = i - 1
        end

        -- The member of the ID-ordered indexes for encoded ID e (RedisKeySchema.orderedMember):
        -- the ID's raw bytes, NUL, e. Nil when e is not base64url.
        local function ordered(e)
          local bytes, acc, bits = {}, 0, 0
          for i = 1, #e do
            local v = b64[string.byte(e, i)]
            if not v then return nil end
            acc = acc * 64 + v
            bits = bits + 6
            if bits >= 8 then
              bits = bits - 8
              local p = 2 ^ bits
              local byte = math.floor(acc / p)
              bytes[#bytes + 1] = byte
              acc = acc - byte * p
            end
          end
          return string.char(unpack(bytes)) .. nul .. e
        end

        -- The encoded ID an ordered member ends with, or nil.
        local function ordered_id(m)
          local at = string.find(m, nul, 1, true)
          if at then return string.sub(m, at + 1) end
          return nil
        end

        -- Adds or removes encoded ID e in an ID-ordered index (nothing for a corrupt e).
        local function order_add(index, e)
          local m = ordered(e)
          if m then redis.call('ZADD', index, 0, m) end
        end
        local function order_remove(index, e)
          local m = ordered(e)
          if m then redis.call('ZREM', index, m) end
        end
        """

    /// Shared by the ID-ordered list scripts: walks an ID-ordered index from `start` with
    /// `ZRANGEBYLEX`, handing each member to `visit` (which appends a live entry's fields
    /// to `out` and returns true, or returns false for anything not live), until `limit`
    /// entries are found and one more live entry shows that more follow, the index ends,
    /// or `budget` members were read.
    ///
    /// Reply: {now, 1 if live entries may follow else 0, the last member read, fields...}.
    /// A caller that gets fewer than `limit` entries and 1 continues after the last member
    /// read (the budget ran out among entries that are no longer live).
    static let orderedWalk = """
        local function walk(index, start, limit, budget, visit)
          local out = { now, 0, '' }
          local found, read = 0, 0
          while true do
            local want = math.min(limit + 1 - found, budget - read)
            if want <= 0 then
              out[2] = 1
              return out
            end
            local batch = redis.call('ZRANGEBYLEX', index, start, '+', 'LIMIT', 0, want)
            for _, m in ipairs(batch) do
              read = read + 1
              out[3] = m
              start = '(' .. m
              local id = ordered_id(m)
              if id then
                local fields = {}
                if visit(id, fields) then
                  if found == limit then
                    out[2] = 1
                    return out
                  end
                  found = found + 1
                  for _, f in ipairs(fields) do out[#out + 1] = f end
                end
              end
            end
            if #batch < want then return out end
          end
        end

        """
}
