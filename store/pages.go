package store

import (
	"encoding/binary"
	"fmt"
	"os"
)

// The bbolt page layout (go.etcd.io/bbolt/internal/common): a 16-byte
// header (id, flags, count, overflow), then count 16-byte elements. A
// branch element is (pos, ksize, child page id); a leaf element is (flags,
// pos, ksize, vsize), its key at the element's own address + pos and its
// value right after the key. A leaf value flagged as a bucket starts with
// a 16-byte header (root page, sequence); root 0 means the bucket's page
// follows inline in the value. The freelist page holds page ids (its count
// in the first id when the header's count is 0xFFFF).
const (
	pageHeader   = 16
	elementSize  = 16
	branchFlag   = 0x01
	leafFlag     = 0x02
	freelistFlag = 0x10
	bucketFlag   = 0x01
	maxDepth     = 64
)

// checkPages reads, from the file itself, every page the meta page m can
// reach (the bucket trees, inline buckets, the freelist) and reports any
// whose header, elements, keys or values point outside the page or the
// file, so that nothing bbolt later reads through its mmap lies outside
// what the file holds.
func checkPages(path string, pageSize uint32, m meta) (problems []string) {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	w := &pageWalker{f: f, ps: uint64(pageSize), hw: m.pgid, seen: map[uint64]bool{}}
	w.tree(m.root, "the root bucket", 0)
	if m.freelist != ^uint64(0) && len(w.problems) == 0 {
		w.freelist(m.freelist)
	}
	if len(w.problems) > 10 {
		w.problems = append(w.problems[:10], fmt.Sprintf("and %d more damaged places", len(w.problems)-10))
	}
	return w.problems
}

type pageWalker struct {
	f        *os.File
	ps, hw   uint64
	seen     map[uint64]bool
	problems []string
}

func (w *pageWalker) bad(format string, a ...any) {
	w.problems = append(w.problems, fmt.Sprintf(format, a...))
}

// read returns page id with its overflow pages, or nil after reporting why
// it cannot be read.
func (w *pageWalker) read(id uint64, where string) []byte {
	if id < 2 || id >= w.hw {
		w.bad("%s points to page %d, outside the journal's %d pages", where, id, w.hw)
		return nil
	}
	head := make([]byte, pageHeader)
	if _, err := w.f.ReadAt(head, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s) cannot be read: %v", id, where, err)
		return nil
	}
	overflow := uint64(binary.LittleEndian.Uint32(head[12:]))
	if id+overflow >= w.hw {
		w.bad("page %d (%s) runs %d pages past the journal's end", id, where, overflow)
		return nil
	}
	buf := make([]byte, (overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s) cannot be read: %v", id, where, err)
		return nil
	}
	return buf
}

// tree checks the page tree rooted at page id.
func (w *pageWalker) tree(id uint64, where string, depth int) {
	if depth > maxDepth {
		w.bad("%s is nested deeper than any journal (page %d)", where, id)
		return
	}
	if w.seen[id] {
		w.bad("page %d is reached twice (%s)", id, where)
		return
	}
	w.seen[id] = true
	buf := w.read(id, where)
	if buf == nil {
		return
	}
	w.node(buf, fmt.Sprintf("page %d", id), depth)
}

// node checks one branch or leaf page held in buf (a page read from the
// file, or an inline bucket's page inside a value).
func (w *pageWalker) node(buf []byte, name string, depth int) {
	if len(buf) < pageHeader {
		w.bad("%s is shorter than a page header", name)
		return
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(buf[8:]), uint64(le.Uint16(buf[10:]))
	if flags != branchFlag && flags != leafFlag {
		w.bad("%s has flags %#x where a branch or leaf page belongs", name, flags)
		return
	}
	if pageHeader+count*elementSize > uint64(len(buf)) {
		w.bad("%s counts %d elements, more than it holds", name, count)
		return
	}
	for i := uint64(0); i < count; i++ {
		e := pageHeader + i*elementSize
		if flags == branchFlag {
			pos, ksize, child := uint64(le.Uint32(buf[e:])), uint64(le.Uint32(buf[e+4:])), le.Uint64(buf[e+8:])
			if e+pos+ksize > uint64(len(buf)) {
				w.bad("%s element %d: its key lies outside the page", name, i)
				continue
			}
			w.tree(child, fmt.Sprintf("%s element %d", name, i), depth+1)
			continue
		}
		eflags, pos, ksize, vsize := le.Uint32(buf[e:]), uint64(le.Uint32(buf[e+4:])), uint64(le.Uint32(buf[e+8:])), uint64(le.Uint32(buf[e+12:]))
		start := e + pos + ksize
		if start+vsize > uint64(len(buf)) {
			w.bad("%s element %d: its key or value lies outside the page", name, i)
			continue
		}
		if eflags&bucketFlag == 0 {
			continue
		}
		v := buf[start : start+vsize]
		if len(v) < 16 {
			w.bad("%s element %d: a bucket value too short for its header", name, i)
			continue
		}
		if root := le.Uint64(v); root != 0 {
			w.tree(root, fmt.Sprintf("%s bucket %d", name, i), depth+1)
		} else {
			w.node(v[16:], fmt.Sprintf("%s's inline bucket %d", name, i), depth+1)
		}
	}
}

// freelist checks that the freelist page holds the ids it counts, and
// that each names a page of the journal.
func (w *pageWalker) freelist(id uint64) {
	buf := w.read(id, "the freelist")
	if buf == nil {
		return
	}
	le := binary.LittleEndian
	if flags := le.Uint16(buf[8:]); flags != freelistFlag {
		w.bad("the freelist page %d has flags %#x", id, flags)
		return
	}
	first, count := uint64(0), uint64(le.Uint16(buf[10:]))
	if count == 0xFFFF {
		first, count = 1, le.Uint64(buf[pageHeader:])
	}
	if count > uint64(len(buf)) || pageHeader+(first+count)*8 > uint64(len(buf)) {
		w.bad("the freelist page %d counts %d free pages, more than it holds", id, count)
		return
	}
	for i := first; i < first+count; i++ {
		if free := le.Uint64(buf[pageHeader+i*8:]); free < 2 || free >= w.hw {
			w.bad("the freelist names page %d, outside the journal's %d pages", free, w.hw)
			return
		}
	}
}
