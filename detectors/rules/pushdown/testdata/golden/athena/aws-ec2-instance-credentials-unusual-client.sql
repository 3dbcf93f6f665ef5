-- rule: aws-ec2-instance-credentials-unusual-client
-- status: exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND useridentity.type = 'AssumedRole'
  AND CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 OR strpos(useridentity.arn, ':federated-user/') > 0 THEN NULLIF(regexp_extract(useridentity.arn, '[^/]*$'), '') END LIKE 'i-%' ESCAPE '\'
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (NULLIF(useragent, '') LIKE '%Darwin/%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%macOS%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%macos%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Mac OS X%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%kali%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Kali%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%parrot%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Parrot%' ESCAPE '\')
