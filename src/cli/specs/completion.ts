import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'completion',
    summary: "print a shell completion script (bash, zsh or fish): commands, options, and the config's refs, bots and staff",
    args: ['[shell]'],
    exits: {
      0: 'printed the script (with --refs: the candidates; none when there is no valid config)',
      2: 'no shell or an unknown one, a shell together with --refs, or an unknown --refs kind',
    },
    options: [
      ['--refs <kind>', "used by the scripts: print the config's candidates of one kind (slot, account, ref, bot, staff), one per line"],
    ],
    help: [
      'Install (then open a new shell):',
      '  bash  keyctl completion bash > ~/.local/share/bash-completion/completions/keyctl',
      '        (without the bash-completion package, add  source <(keyctl completion bash)  to ~/.bashrc)',
      '  zsh   keyctl completion zsh > "${fpath[1]}/_keyctl"',
      '        (or any directory in $fpath; compinit must run in ~/.zshrc)',
      '  fish  keyctl completion fish > ~/.config/fish/completions/keyctl.fish',
      'Refs (bot/sub; @account once you type @), bot and staff names are read from the config (--config as typed,',
      'KEYCTL_CONFIG, or ./keyctl.yaml) each time you press Tab. Regenerate the script after upgrading keyctl.',
    ].join('\n'),
    noConfig: true,
    load: () => import('../commands/completion.js'),
  },
];
