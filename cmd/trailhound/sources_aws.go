package main

import (
	"context"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/awsfindings"
	"github.com/trailhound/trailhound/sources/cloudtrail"
	"github.com/trailhound/trailhound/sources/cloudwatch"
	"github.com/trailhound/trailhound/sources/s3"
)

// awsOptions returns an error when an AWS source entry has no options:
// every AWS source needs at least its regions.
func awsOptions(a *app, sc configs.SourceConfig) error {
	if sc.Options.IsZero() {
		return sc.Errorf(a.cfg.File, "options", "is required (at least regions)")
	}
	return nil
}

// newCloudTrailSources builds one LookupEvents source per account and
// region of the entry.
func newCloudTrailSources(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	if err := awsOptions(a, sc); err != nil {
		return nil, err
	}
	var opts cloudtrail.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	return cloudtrail.Build(context.Background(), sc.Name, opts, sc.Options)
}

// newCloudWatchSources builds one CloudWatch Logs source per account and
// region of the entry.
func newCloudWatchSources(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	if err := awsOptions(a, sc); err != nil {
		return nil, err
	}
	var opts cloudwatch.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	srcs, err := cloudwatch.Build(context.Background(), sc.Name, opts, sc.Options)
	if err == nil && opts.FilterPattern == cloudwatch.DeriveFilterPattern {
		deriveFilterPatterns(a, sc.Name, srcs)
	}
	return srcs, err
}

// newS3Sources builds the S3 bucket source of the entry.
func newS3Sources(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	if err := awsOptions(a, sc); err != nil {
		return nil, err
	}
	var opts s3.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	return s3.Build(context.Background(), sc.Name, opts, sc.Options)
}

// newAWSFindingsSources builds the aws-findings source of the entry: the
// queue reader, or one Security Hub puller per account and region.
func newAWSFindingsSources(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	if err := awsOptions(a, sc); err != nil {
		return nil, err
	}
	var opts awsfindings.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	return awsfindings.Build(context.Background(), sc.Name, opts, sc.Options)
}
