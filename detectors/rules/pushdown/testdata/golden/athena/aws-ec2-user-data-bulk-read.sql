-- rule: aws-ec2-user-data-bulk-read
-- status: coarse
-- coarse: requestParameters.attribute may hold an array or object
-- coarse: threshold counted in process
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'ec2.amazonaws.com'
  AND eventname = 'DescribeInstanceAttribute'
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (json_extract_scalar(requestparameters, '$.attribute') = 'userData' OR COALESCE((json_extract(requestparameters, '$.attribute') IS NOT NULL AND json_extract_scalar(requestparameters, '$.attribute') IS NULL), FALSE))
