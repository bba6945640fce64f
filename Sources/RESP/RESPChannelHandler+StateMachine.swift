import NIOCore

extension RESPChannelHandler {
    /// The requests waiting for replies on one connection, in the order they were written
    /// (RESP answers in order), and when the connection gives up waiting.
    ///
    /// A pure value: the handler feeds it events and performs the actions it returns, so
    /// it is tested without a channel. Generic over the waiter so tests need no promises.
    ///
    /// Timeouts: one timer at a time, armed for the oldest request. When it fires and the
    /// oldest request is past its deadline the connection is closed and every request
    /// fails, since a reply that is late blocks every reply behind it; otherwise it is
    /// armed again for the (later) deadline of the request now oldest.
    struct StateMachine<Waiter> {
        private struct Pending {
            var waiter: Waiter
            var deadline: NIODeadline
        }

        private enum State {
            case active(CircularBuffer<Pending>)
            case closed(RESPError)
        }

        private var state: State = .active(CircularBuffer())
        /// When the armed timer fires, if one is armed.
        private(set) var timerDeadline: NIODeadline?

        enum SendAction {
            /// Write the request; arm the timer for the deadline, if given.
            case write(armTimer: NIODeadline?)
            /// The connection is closed: fail the waiters with the error.
            case fail(RESPError)
        }

        enum ReceiveAction {
            /// Complete the oldest request with the reply.
            case succeed(Waiter)
            /// The server sent a reply nobody asked for: close and fail these.
            case closeAndFail([Waiter], RESPError)
            /// Already closed: drop the reply.
            case ignore
        }

        enum TimerAction {
            case none
            case arm(NIODeadline)
            /// The oldest request timed out: close, failing every waiter with the error.
            case closeAndFail([Waiter], RESPError)
        }

        /// Queues requests written together; they will be answered in this order.
        mutating func send(_ waiters: [Waiter], deadline: NIODeadline) -> SendAction {
            switch self.state {
            case .closed(let error):
                return .fail(error)
            case .active:
                var pending = self.takePending()
                for waiter in waiters {
                    pending.append(Pending(waiter: waiter, deadline: deadline))
                }
                self.state = .active(pending)
                guard self.timerDeadline == nil, !waiters.isEmpty else {
                    return .write(armTimer: nil)
                }
                self.timerDeadline = deadline
                return .write(armTimer: deadline)
            }
        }

        /// A reply arrived.
        mutating func received() -> ReceiveAction {
            switch self.state {
            case .closed:
                return .ignore
            case .active:
                var pending = self.takePending()
                guard let oldest = pending.popFirst() else {
                    let error = RESPError(.protocolViolation, "the server sent a reply that no request was waiting for")
                    self.state = .closed(error)
                    return .closeAndFail([], error)
                }
                self.state = .active(pending)
                return .succeed(oldest.waiter)
            }
        }

        /// The armed timer fired at `now`.
        mutating func timerFired(now: NIODeadline, timeoutError: RESPError) -> TimerAction {
            self.timerDeadline = nil
            guard case .active(let pending) = self.state, let oldest = pending.first else {
                return .none
            }
            if oldest.deadline <= now {
                self.state = .closed(timeoutError)
                return .closeAndFail(pending.map(\.waiter), timeoutError)
            }
            self.timerDeadline = oldest.deadline
            return .arm(oldest.deadline)
        }

        /// The connection failed or closed: every waiting request fails with `error`
        /// (unless it had already failed for another reason, which is kept).
        mutating func close(_ error: RESPError) -> (waiters: [Waiter], error: RESPError) {
            switch self.state {
            case .closed(let earlier):
                return ([], earlier)
            case .active(let pending):
                self.state = .closed(error)
                return (pending.map(\.waiter), error)
            }
        }

        /// The pending requests, leaving the state briefly without them so that changing
        /// them does not copy the buffer.
        private mutating func takePending() -> CircularBuffer<Pending> {
            guard case .active(let pending) = self.state else { return CircularBuffer() }
            self.state = .closed(placeholderError)
            return pending
        }

        /// Requests waiting for replies.
        var pendingCount: Int {
            if case .active(let pending) = self.state {
                return pending.count
            }
            return 0
        }

        var isClosed: Bool {
            if case .closed = self.state {
                return true
            }
            return false
        }
    }
}

/// Stands in for the state while ``RESPChannelHandler/StateMachine`` changes its buffer.
private let placeholderError = RESPError(.connectionClosed, "connection state in transition")
