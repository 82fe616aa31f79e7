package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the command's module version, as `lifecycle version` prints it
// and the User-Agent of requests to Wix carries it.
var version = moduleVersion(readBuildInfo())

// readBuildInfo returns the binary's build information, or nil.
func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// moduleVersion is the main module's version: v1.2.3 for a binary built by
// `go install ...@v1.2.3`, "(devel)" for one built in a checkout, "dev"
// without build information.
func moduleVersion(info *debug.BuildInfo) string {
	if info == nil || info.Main.Version == "" {
		return "dev"
	}
	return info.Main.Version
}

// versionText describes a build: module version, VCS revision and time
// (with "modified" when the tree had uncommitted changes), and Go version.
func versionText(info *debug.BuildInfo) string {
	revision, at, modified := "unknown", "", false
	goVersion := runtime.Version()
	if info != nil {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := fmt.Sprintf("lifecycle %s\nrevision  %s", moduleVersion(info), revision)
	if at != "" {
		out += " (" + at + ")"
	}
	if modified {
		out += ", modified"
	}
	return out + "\ngo        " + goVersion + "\n"
}

func runVersion(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("version", "version", out)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	_, err := io.WriteString(out, versionText(readBuildInfo()))
	return err
}
