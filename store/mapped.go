package store

import bolt "go.etcd.io/bbolt"

// bbolt reads the journal through a read-only shared mapping of the file,
// and every page a walk through the whole journal touches (pruning a
// backlog) stays counted in posd's resident memory until the kernel needs
// it back: 350 MiB after pruning 150 000 payments. dropMapped gives those
// pages back at once. They stay in the page cache, and the next read of
// one maps it again; nothing in the file or in memory posd holds changes.

// dropMappedIn drops the journal's mapped pages. It must run inside a
// write transaction (tx), which keeps bbolt from moving the mapping.
func (s *Store) dropMappedIn(tx *bolt.Tx) {
	dropMapped(s.db.Info().Data, tx.Size())
}
