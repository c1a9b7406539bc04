package store

import (
	"bytes"
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
	w := &pageWalker{f: f, ps: uint64(pageSize), hw: m.pgid, seen: make(pageSet, (m.pgid+63)/64)}
	w.tree(m.root, place{kind: "root bucket"}, 0, nil, nil)
	if m.freelist != ^uint64(0) && len(w.problems) == 0 {
		w.seen.add(m.freelist)
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
	seen     pageSet
	problems []string
	bufs     [maxDepth + 3][]byte // a page being read at each depth
}

// at is element i (of kind) of the page p names.
func (p place) at(kind string, i uint64) place {
	p.kind, p.elem = kind, i
	return p
}

// pageSet is a set of page ids below the high-water mark, a bit each.
type pageSet []uint64

// has and add ignore ids past the set: a damaged reference, which read
// reports.
func (s pageSet) has(id uint64) bool { return id/64 < uint64(len(s)) && s[id/64]&(1<<(id%64)) != 0 }

func (s pageSet) add(id uint64) {
	if id/64 < uint64(len(s)) {
		s[id/64] |= 1 << (id % 64)
	}
}

// place says where a page or an element is, formatted only for a report:
// a walk formats nothing for the tens of thousands of pages that are
// sound.
type place struct {
	page uint64 // the page; 0 is the meta page
	kind string // "", or what of the page: "element", "bucket", "inline bucket"
	elem uint64
	in   *place // the inline bucket's page, for an element of one
}

func (p place) String() string {
	if p.page == 0 && p.in == nil {
		return "the meta page's " + p.kind
	}
	s := fmt.Sprintf("page %d", p.page)
	if p.in != nil {
		s = p.in.String()
	}
	if p.kind != "" {
		s += fmt.Sprintf(" %s %d", p.kind, p.elem)
	}
	return s
}

func (w *pageWalker) bad(format string, a ...any) {
	w.problems = append(w.problems, fmt.Sprintf(format, a...))
}

// read returns page id with its overflow pages, in the buffer kept for
// depth, or nil after reporting why it cannot be read.
func (w *pageWalker) read(id uint64, where place, depth int) []byte {
	if id < 2 || id >= w.hw {
		w.bad("%s points to page %d, outside the journal's %d pages", where, id, w.hw)
		return nil
	}
	buf := w.buffer(depth, w.ps)
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s) cannot be read: %v", id, where, err)
		return nil
	}
	if self := binary.LittleEndian.Uint64(buf); self != id {
		w.bad("page %d (%s) says it is page %d", id, where, self)
		return nil
	}
	overflow := uint64(binary.LittleEndian.Uint32(buf[12:]))
	if id+overflow >= w.hw {
		w.bad("page %d (%s) runs %d pages past the journal's end", id, where, overflow)
		return nil
	}
	if overflow == 0 {
		return buf
	}
	for o := id + 1; o <= id+overflow; o++ {
		if w.seen.has(o) {
			w.bad("page %d is reached twice (%s runs over it)", o, where)
			return nil
		}
		w.seen.add(o)
	}
	buf = w.buffer(depth, (overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s) cannot be read: %v", id, where, err)
		return nil
	}
	return buf
}

// buffer is depth's buffer, of n bytes. A page's buffer is in use while
// its children (one level deeper) are read.
func (w *pageWalker) buffer(depth int, n uint64) []byte {
	if uint64(cap(w.bufs[depth])) < n {
		w.bufs[depth] = make([]byte, n)
	}
	return w.bufs[depth][:n]
}

// tree checks the page tree rooted at page id, whose keys must lie in
// [lo, hi) (nil: unbounded).
func (w *pageWalker) tree(id uint64, where place, depth int, lo, hi []byte) {
	if depth > maxDepth {
		w.bad("%s is nested deeper than any journal (page %d)", where, id)
		return
	}
	if w.seen.has(id) {
		w.bad("page %d is reached twice (%s)", id, where)
		return
	}
	w.seen.add(id)
	buf := w.read(id, where, depth)
	if buf == nil {
		return
	}
	w.node(buf, place{page: id}, depth, lo, hi)
}

// node checks one branch or leaf page held in buf (a page read from the
// file, or an inline bucket's page inside a value): its elements lie
// inside it, its keys ascend within [lo, hi), and each child's keys lie
// between its own key and the next one, as bbolt's searches assume.
func (w *pageWalker) node(buf []byte, name place, depth int, lo, hi []byte) {
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
	key := func(i uint64) []byte {
		e := pageHeader + i*elementSize
		var pos, ksize uint64
		if flags == branchFlag {
			pos, ksize = uint64(le.Uint32(buf[e:])), uint64(le.Uint32(buf[e+4:]))
		} else {
			pos, ksize = uint64(le.Uint32(buf[e+4:])), uint64(le.Uint32(buf[e+8:]))
		}
		if e+pos+ksize > uint64(len(buf)) {
			return nil
		}
		return buf[e+pos : e+pos+ksize]
	}
	var prev []byte
	for i := uint64(0); i < count; i++ {
		e := pageHeader + i*elementSize
		k := key(i)
		if k == nil {
			w.bad("%s element %d: its key lies outside the page", name, i)
			continue
		}
		switch {
		case i > 0 && bytes.Compare(k, prev) <= 0:
			w.bad("%s element %d: its key is out of order", name, i)
		case lo != nil && bytes.Compare(k, lo) < 0, hi != nil && bytes.Compare(k, hi) >= 0:
			w.bad("%s element %d: its key lies outside the range its parent gives it", name, i)
		}
		prev = k
		if flags == branchFlag {
			var next []byte
			if i+1 < count {
				next = key(i + 1)
			} else {
				next = hi
			}
			w.tree(le.Uint64(buf[e+8:]), name.at("element", i), depth+1, k, next)
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
			w.tree(root, name.at("bucket", i), depth+1, nil, nil)
		} else {
			in := name.at("inline bucket", i)
			w.node(v[16:], place{in: &in}, depth+1, nil, nil)
		}
	}
}

// freelist checks that the freelist page holds the ids it counts, and
// that each names a page of the journal.
func (w *pageWalker) freelist(id uint64) {
	buf := w.read(id, place{kind: "freelist"}, maxDepth+2)
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
	freed := make(map[uint64]bool, count)
	for i := first; i < first+count; i++ {
		free := le.Uint64(buf[pageHeader+i*8:])
		switch {
		case free < 2 || free >= w.hw:
			w.bad("the freelist names page %d, outside the journal's %d pages", free, w.hw)
			return
		case w.seen.has(free):
			// The next write could put new data over live data.
			w.bad("page %d is both in use and on the freelist", free)
			return
		case freed[free]:
			w.bad("the freelist names page %d twice", free)
			return
		}
		freed[free] = true
	}
}
