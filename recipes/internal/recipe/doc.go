// Package recipe holds the pieces every zabkit recipe shares: protected
// sequential creates (GUID in the name, adopt-or-retry after a connection
// loss, clean-up on cancellation), sequence-number parsing and ordering,
// parent creation, waiting for one node to go away, and the Guard that
// tells a holder its session can no longer be trusted.
//
// It imports the recipes package (for Conn), the client and the tree, and
// is imported only by the recipe packages under recipes/.
package recipe
