-- rule: aws-macie-sensitive-data-revealed
-- status: coarse
-- coarse: requestParameters.configuration.status may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'macie2.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (eventname = 'GetSensitiveDataOccurrences' OR (eventname = 'UpdateRevealConfiguration' AND (json_extract_scalar(requestparameters, '$.configuration.status') = 'ENABLED' OR COALESCE(json_array_length(json_extract(requestparameters, '$.configuration')) IS NOT NULL OR (json_extract(requestparameters, '$.configuration.status') IS NOT NULL AND json_extract_scalar(requestparameters, '$.configuration.status') IS NULL), FALSE))))
