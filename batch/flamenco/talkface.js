// SPDX-License-Identifier: GPL-3.0-or-later
// TalkFace job type for Flamenco 3 (https://flamenco.blender.org/): photo + speech -> keyed face,
// frames and video, run by each Worker as `blender -b -c talkface ...` (the TalkFace extension
// installed in the Workers' Blender).
//
// Install: copy this file into the `scripts` folder next to the flamenco-manager executable
// (create it if needed); the Manager then offers the job type "talkface" (restart a Manager
// older than 3.7). In Blender's Flamenco add-on press "Refresh from Manager".
//
// Two ways to submit:
//  - one clip: fill in Photo, Audio and Output Folder (and any other talkface flags) in
//    Blender's Flamenco panel, or POST a job with those settings;
//  - a manifest: `python -m talkface.batch MANIFEST --flamenco-submit http://manager:8080`
//    sends one job whose `clips` setting lists every clip not yet done; each becomes a task.
// Paths must be valid on the Workers: shared storage at the same path, or Flamenco variables
// such as {storage}/lines/a.wav (replaced per Worker platform).

const JOB_TYPE = {
    label: "TalkFace",
    description: "Photo + speech -> keyed face, frames and video (blender -b -c talkface); one task per clip",
    settings: [
        { key: "photo", type: "string", subtype: "file_path", visible: "submission",
          description: "Portrait photo (one clip)" },
        { key: "audio", type: "string", subtype: "file_path", visible: "submission",
          description: "Speech recording (one clip)" },
        { key: "out", type: "string", subtype: "dir_path", visible: "submission",
          description: "Output folder: scene.blend, frames/, video.mp4 (one clip)" },
        { key: "options", type: "string", default: "", visible: "submission",
          description: "More talkface flags for the one clip, e.g. --resolution 1024 --mode neural --overwrite" },
        { key: "clips", type: "string", default: "", visible: "web",
          description: "A manifest as JSON: [{\"name\": ..., \"args\": [...], \"blend\": ...}]; written by python -m talkface.batch" },
        { key: "clip_count", type: "int32", default: 0, visible: "web",
          description: "Number of clips in 'clips' (a check that the list arrived whole)" },
    ],
};

function splitOptions(text) {
    // The Manager's shellSplit (Flamenco >= 3.6) when present, else split on blanks.
    if (!text) return [];
    if (typeof shellSplit === "function") return shellSplit(text);
    return String(text).split(/\s+/).filter(function (a) { return a.length > 0; });
}

function clipsOf(settings) {
    if (settings.clips) {
        let clips;
        try {
            clips = JSON.parse(settings.clips);
        } catch (e) {
            throw "TalkFace: the 'clips' setting is not valid JSON: " + e;
        }
        if (!Array.isArray(clips) || clips.length == 0) throw "TalkFace: 'clips' lists no clips";
        if (settings.clip_count && clips.length != settings.clip_count) {
            throw "TalkFace: 'clips' holds " + clips.length + " clips, clip_count says " + settings.clip_count;
        }
        clips.forEach(function (c, i) {
            if (!c || !Array.isArray(c.args) || c.args.length == 0) throw "TalkFace: clip " + (i + 1) + " has no args";
        });
        return clips;
    }
    const missing = ["photo", "audio", "out"].filter(function (k) { return !settings[k]; });
    if (missing.length) throw "TalkFace: give " + missing.join(", ") + " (or a 'clips' list)";
    return [{
        name: path.stem(settings.out),
        args: ["--photo", settings.photo, "--audio", settings.audio, "--out", settings.out]
            .concat(splitOptions(settings.options)),
    }];
}

function compileJob(job) {
    const clips = clipsOf(job.settings);
    clips.forEach(function (clip, i) {
        const name = "talkface-" + (i + 1) + "-" + (clip.name || "clip");
        const task = author.Task(name, "blender");
        task.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: [],
            blendfile: clip.blend || "",
            args: ["-c", "talkface"].concat(clip.args),
        }));
        job.addTask(task);
    });
    print("TalkFace job", job.name + ":", clips.length, "clips");
}
