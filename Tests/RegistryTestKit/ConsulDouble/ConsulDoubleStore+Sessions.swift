extension ConsulDoubleStore {
    /// `PUT /v1/session/create`.
    public mutating func createSession(id: String, name: String, ttl: Int64?, deleteOnInvalidation: Bool, lockDelay: Int64, now: Int64) -> Session {
        let index = self.nextIndex()
        let session = Session(
            id: id, name: name, ttl: ttl, deleteOnInvalidation: deleteOnInvalidation, lockDelay: lockDelay,
            expiresAt: ttl.map { now + $0 }, createIndex: index, modifyIndex: index
        )
        self.sessions[id] = session
        return session
    }

    /// `PUT /v1/session/renew/<id>`: the renewed session, or nil when it does not exist.
    public mutating func renewSession(_ id: String, now: Int64) -> Session? {
        guard var session = self.sessions[id] else { return nil }
        session.expiresAt = session.ttl.map { now + $0 }
        self.sessions[id] = session
        return session
    }

    /// `PUT /v1/session/destroy/<id>`.
    public mutating func destroySession(_ id: String, now: Int64) {
        self.invalidate(id, now: now)
    }

    /// Invalidates every session whose TTL has passed at `now`.
    public mutating func expireSessions(now: Int64) {
        for session in self.sessions.values {
            if let expiresAt = session.expiresAt, now >= expiresAt {
                // As if Consul's timer had fired at the TTL: the lock delay starts then.
                self.invalidate(session.id, now: expiresAt)
            }
        }
    }

    /// `PUT /v1/kv/<key>?acquire=<session>`: whether the lock is held by `session` now, or
    /// nil when the session does not exist (Consul answers 500 "invalid session").
    public mutating func acquire(_ key: String, value: [UInt8], flags: UInt64 = 0, session: String, now: Int64) -> Bool? {
        let index = self.nextIndex()
        guard self.sessions[session] != nil else { return nil }
        if let until = self.lockDelays[key], now < until {
            return false
        }
        var entry = self.entries[key]
        if let holder = entry?.session, holder != session {
            return false
        }
        let changesHands = entry?.session != session
        if entry == nil {
            entry = Entry(key: key, value: value, flags: flags, createIndex: index, modifyIndex: index, lockIndex: 0, session: nil)
            self.tombstones[key] = nil
            self.keysChanged = true
        }
        guard var updated = entry else { return nil }
        updated.value = value
        updated.flags = flags
        updated.session = session
        updated.lockIndex += changesHands ? 1 : 0
        updated.modifyIndex = index
        self.entries[key] = updated
        self.kvIndex = index
        return true
    }

    /// `PUT /v1/kv/<key>?release=<session>`: whether the key was held by `session` and is now unlocked.
    public mutating func release(_ key: String, value: [UInt8], flags: UInt64 = 0, session: String) -> Bool {
        let index = self.nextIndex()
        guard var entry = self.entries[key], entry.session == session else { return false }
        entry.value = value
        entry.flags = flags
        entry.session = nil
        entry.modifyIndex = index
        self.entries[key] = entry
        self.kvIndex = index
        return true
    }

    private mutating func invalidate(_ id: String, now: Int64) {
        guard let session = self.sessions.removeValue(forKey: id) else { return }
        let index = self.nextIndex()
        for (key, entry) in self.entries where entry.session == id {
            if session.lockDelay > 0 {
                self.lockDelays[key] = now + session.lockDelay
            }
            if session.deleteOnInvalidation {
                self.remove(key, at: index)
            } else {
                var unlocked = entry
                unlocked.session = nil
                unlocked.modifyIndex = index
                self.entries[key] = unlocked
                self.kvIndex = index
            }
        }
    }
}
