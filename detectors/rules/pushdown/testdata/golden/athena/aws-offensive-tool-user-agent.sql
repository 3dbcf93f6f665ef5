-- rule: aws-offensive-tool-user-agent
-- status: exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND (((NULLIF(useragent, '') LIKE '%kali%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Kali%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%parrot%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Parrot%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%pentoo%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%Pentoo%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%TruffleHog%' ESCAPE '\' OR NULLIF(useragent, '') LIKE '%trufflehog%' ESCAPE '\') AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))) OR (eventsource = 'iam.amazonaws.com' AND eventname IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'GetLoginProfile', 'UpdateLoginProfile', 'AttachUserPolicy', 'PutUserPolicy') AND NULLIF(useragent, '') LIKE '%S3 Browser%' ESCAPE '\' AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))))
