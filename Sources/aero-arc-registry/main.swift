import Foundation
import RegistryServer

// Everything lives in RegistryServer, where it is tested; this only hands over the process.
let code = await RegistryCommand.main(
    arguments: Array(CommandLine.arguments.dropFirst()),
    environment: ProcessInfo.processInfo.environment
)
exit(code)
