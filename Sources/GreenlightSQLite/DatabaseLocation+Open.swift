import Foundation
import GreenlightStore

extension DatabaseLocation {
    /// Opens the store at this location and migrates it; creates it unless `mustExist`.
    public func openStore(mustExist: Bool = false) throws -> any GateStore {
        switch self {
        case .sqlite(let path): try SQLiteGateStore(path: path, create: !mustExist)
        }
    }
}
