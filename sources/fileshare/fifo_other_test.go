//go:build !unix

package fileshare

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
