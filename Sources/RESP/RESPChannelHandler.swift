import NIOCore

/// Matches replies to requests on one connection and enforces the command timeout.
///
/// Requests reach it through ``send(_:waiters:)`` on the channel's event loop (never
/// through the pipeline, so a request written after the connection closed still fails
/// its waiters rather than vanishing); replies come from a ``RESPValueDecoder`` in front
/// of it. Error replies complete their request normally; the typed layer turns them
/// into errors.
final class RESPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = ByteBuffer
    typealias Waiter = EventLoopPromise<RESPValue>

    private var stateMachine = StateMachine<Waiter>()
    private var context: ChannelHandlerContext?
    private let commandTimeout: TimeAmount
    /// "redis at host:port", for messages.
    private let peer: String

    init(commandTimeout: TimeAmount, peer: String) {
        self.commandTimeout = commandTimeout
        self.peer = peer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(RESPError(.connectionClosed, "the connection to \(self.peer) was closed"))
        self.context = nil
    }

    /// Writes already encoded commands, answered in order to `waiters` (one per command).
    func send(_ bytes: ByteBuffer, waiters: [Waiter]) {
        guard let context else {
            let error = RESPError(.connectionClosed, "the connection to \(self.peer) is closed")
            waiters.forEach { $0.fail(error) }
            return
        }
        switch self.stateMachine.send(waiters, deadline: context.eventLoop.now + self.commandTimeout) {
        case .fail(let error):
            waiters.forEach { $0.fail(error) }
        case .write(let deadline):
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
            if let deadline {
                self.armTimer(deadline, context: context)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = self.unwrapInboundIn(data)
        switch self.stateMachine.received() {
        case .succeed(let waiter):
            waiter.succeed(value)
        case .closeAndFail(let waiters, let error):
            waiters.forEach { $0.fail(error) }
            context.close(promise: nil)
        case .ignore:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure =
            if let error = error as? RESPError {
                RESPError(error.code, "\(self.peer) sent an invalid reply: \(error.message)")
            } else {
                RESPError(.connectionClosed, "the connection to \(self.peer) failed", underlying: error)
            }
        self.failAll(failure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(RESPError(.connectionClosed, "the connection to \(self.peer) closed before its reply arrived"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: RESPError) {
        let (waiters, error) = self.stateMachine.close(error)
        waiters.forEach { $0.fail(error) }
    }

    private func armTimer(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired()
        }
    }

    private func timerFired() {
        guard let context else { return }
        let timeout = RESPError(.timeout, "\(self.peer) did not answer within \(Self.describe(self.commandTimeout))")
        switch self.stateMachine.timerFired(now: context.eventLoop.now, timeoutError: timeout) {
        case .none:
            break
        case .arm(let deadline):
            self.armTimer(deadline, context: context)
        case .closeAndFail(let waiters, let error):
            waiters.forEach { $0.fail(error) }
            context.close(promise: nil)
        }
    }

    /// "2s", "250ms".
    static func describe(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
