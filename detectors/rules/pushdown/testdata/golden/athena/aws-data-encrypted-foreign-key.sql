-- rule: aws-data-encrypted-foreign-key
-- status: coarse
-- coarse: additionalEventData.SSEApplied may hold an array or object
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.ServerSideEncryptionConfiguration.Rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID may hold an array or object
-- coarse: requestParameters.ServerSideEncryptionConfiguration.Rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID: foreign_account
-- coarse: requestParameters.destinationKeyId may hold an array or object
-- coarse: requestParameters.destinationKeyId: foreign_account
-- coarse: requestParameters.kmsKeyId may hold an array or object
-- coarse: requestParameters.kmsKeyId: foreign_account
-- coarse: requestParameters.x-amz-server-side-encryption-aws-kms-key-id may hold an array or object
-- coarse: requestParameters.x-amz-server-side-encryption-aws-kms-key-id: foreign_account
-- coarse: requestParameters.x-amz-server-side-encryption-customer-algorithm may hold an array or object
-- coarse: requestParameters: foreign_account
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventsource = 's3.amazonaws.com' AND eventname IN ('PutObject', 'CopyObject', 'CreateMultipartUpload') AND (json_extract_scalar(requestparameters, '$["x-amz-server-side-encryption-customer-algorithm"]') IS NOT NULL OR COALESCE((json_extract(requestparameters, '$["x-amz-server-side-encryption-customer-algorithm"]') IS NOT NULL AND json_extract_scalar(requestparameters, '$["x-amz-server-side-encryption-customer-algorithm"]') IS NULL), FALSE) OR json_extract_scalar(additionaleventdata, '$.SSEApplied') = 'SSE_C' OR COALESCE((json_extract(additionaleventdata, '$.SSEApplied') IS NOT NULL AND json_extract_scalar(additionaleventdata, '$.SSEApplied') IS NULL), FALSE))) OR (eventsource = 's3.amazonaws.com' AND eventname = 'PutBucketEncryption') OR (eventsource = 's3.amazonaws.com' AND eventname IN ('PutObject', 'CopyObject', 'CreateMultipartUpload')) OR (eventsource = 'ec2.amazonaws.com' AND eventname IN ('CreateVolume', 'CopySnapshot', 'CopyImage')) OR (eventsource = 'ec2.amazonaws.com' AND eventname = 'ModifyEbsDefaultKmsKeyId') OR (eventsource = 'rds.amazonaws.com' AND eventname IN ('CopyDBSnapshot', 'CopyDBClusterSnapshot')) OR (eventsource = 'kms.amazonaws.com' AND eventname = 'ReEncrypt'))
