package ha

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// awsConfig loads the default credential chain with an optional region
// and endpoint override.
func awsConfig(ctx context.Context, region, endpoint string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("ha: aws config: %w", err)
	}
	return cfg, nil
}

// NewS3Client returns an S3 client for region and endpoint (path-style
// addressing when an endpoint is set, as moto and LocalStack need).
func NewS3Client(ctx context.Context, region, endpoint string) (*s3.Client, error) {
	cfg, err := awsConfig(ctx, region, endpoint)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = endpoint != ""
		// Snapshots are checked with their own SHA-256.
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// NewLease returns the lease the ha section names.
func NewLease(ctx context.Context, c LeaseConfig) (Lease, error) {
	cfg, err := awsConfig(ctx, c.Region, c.EndpointURL)
	if err != nil {
		return nil, err
	}
	switch c.Kind {
	case "dynamodb":
		return &DynamoDBLease{Client: dynamodb.NewFromConfig(cfg), Table: c.Where, Name: c.Name}, nil
	case "s3":
		cl := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = c.EndpointURL != ""
			o.DisableLogOutputChecksumValidationSkipped = true
		})
		return &S3Lease{Client: cl, Bucket: c.Where, Key: c.Name}, nil
	}
	return nil, fmt.Errorf("ha: unknown lease kind %q", c.Kind)
}
