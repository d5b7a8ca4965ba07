package index

// The volume key: the index records which key the volume's data is
// encrypted with (a fingerprint, never the key), so that a mount with the
// key file missing or replaced is refused instead of writing with a new key
// while the old data becomes unreadable.

// VolumeKey returns the fingerprint of the key the volume's data is
// encrypted with, or "" when none is recorded.
func (x *Index) VolumeKey() (string, error) {
	var fp string
	err := x.view(func(w *wtx) error {
		fp = string(w.get(bMeta, keyVolumeKey))
		return nil
	})
	return fp, err
}

// SetVolumeKey records fingerprint as the volume key's, in one operation.
func (x *Index) SetVolumeKey(fingerprint string) error {
	return x.update(func(w *wtx) error {
		if string(w.get(bMeta, keyVolumeKey)) == fingerprint {
			return nil
		}
		return w.put(bMeta, keyVolumeKey, []byte(fingerprint))
	})
}

// HasStoredData reports whether anything of the volume's data has gone to
// (or is queued for) the blob store: a blob record or a queue entry exists.
func (x *Index) HasStoredData() (bool, error) {
	var has bool
	err := x.view(func(w *wtx) error {
		k, _ := w.bucket(bBlobs).Cursor().First()
		if k == nil {
			k, _ = w.bucket(bUploads).Cursor().First()
		}
		has = k != nil
		return nil
	})
	return has, err
}
