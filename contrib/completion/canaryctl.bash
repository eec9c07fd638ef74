# bash completion for canaryctl(1), installed as share/bash-completion/completions/canaryctl.
# Completes the commands, each command's options, the values of -o and of the judge's named
# options, sample files for the judge, and canary names: those `canaryctl status -o json` lists
# when the daemon answers (on --socket or $CANARYCTL_SOCKET, as canaryctl itself would ask),
# nothing otherwise. Needs nothing from the bash-completion package.

# The commands, in the order of `canaryctl help`; tests/e2e/test-completion.sh checks that every
# command the usage lists is here, and every option of `canaryctl help COMMAND`.
_canaryctl_commands='status start promote approve abort pause resume retry history report judge version help'

# _canaryctl_options COMMAND: its options.
_canaryctl_options() {
	case $1 in
	status) echo '-o --output --compact -w --watch --interval --count --no-headers --socket -h --help' ;;
	history) echo '-o --output --compact --all --no-headers --socket -h --help' ;;
	report) echo '-o --output --compact --rollout --socket -h --help' ;;
	start) echo '--revision --socket -h --help' ;;
	promote) echo '--full --socket -h --help' ;;
	abort) echo '--reason --socket -h --help' ;;
	approve | pause | resume | retry) echo '--socket -h --help' ;;
	judge)
		echo '--canary --baseline --judge -o --output --direction --confidence' \
			'--allowed-increase --allowed-decrease --tolerance --effect-size --min-samples' \
			'--reducer --max-ratio --min-ratio --min --max --alpha --kind --share --share-file' \
			'--nan-strategy --outliers --outlier-factor -h --help'
		;;
	*) echo '-h --help' ;;
	esac
}

# _canaryctl_takes_value COMMAND OPTION: whether OPTION reads the next word as its value.
_canaryctl_takes_value() {
	case $2 in
	-o | --output | --interval | --count | --rollout | --revision | --reason | --socket) return 0 ;;
	--help | --full | --all | --watch | --no-headers | --compact) return 1 ;;
	--*) [[ $1 == judge ]] ;;
	*) return 1 ;;
	esac
}

# _canaryctl_canaries CANARYCTL SOCKET: the canaries' names, or nothing when no daemon answers (--compact:
# one line, so a canary's name is followed by its namespace).
_canaryctl_canaries() {
	local json
	if type -P timeout >/dev/null; then # a daemon that hangs must not hang the shell
		json=$(timeout 3 "$1" ${2:+--socket "$2"} status -o json --compact 2>/dev/null) || return 0
	else
		json=$("$1" ${2:+--socket "$2"} status -o json --compact 2>/dev/null) || return 0
	fi
	# a canary's "name" is followed by its "namespace" (a metric's by its "judge")
	grep -o '"name":"[^"\\]*","namespace"' <<<"$json" | sed 's/^"name":"//; s/","namespace"$//'
}

_canaryctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' socket='' nargs=0 i w words=''
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--socket) socket=${COMP_WORDS[i + 1]} && ((i++)) ;;
			--socket=*) socket=${w#--socket=} ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		elif [[ $w == --socket ]]; then # also after the command, as canaryctl reads it
			socket=${COMP_WORDS[i + 1]} && ((i++))
		elif [[ $w == --socket=* ]]; then
			socket=${w#--socket=}
		elif [[ $w == -* ]]; then
			[[ $w != *=* ]] && _canaryctl_takes_value "$cmd" "$w" && ((i++))
		else
			((nargs++))
		fi
	done

	if [[ -z $cmd ]]; then
		if [[ $prev == --socket ]]; then
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
		fi
		if [[ $cur == -* ]]; then
			words='--socket --version -V --help -h'
		else
			words=$_canaryctl_commands
		fi
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return 0
	fi

	# the value of an option
	if [[ $prev == -* ]] && _canaryctl_takes_value "$cmd" "$prev"; then
		case $cmd:$prev in
		report:-o | report:--output) words='html json yaml' ;;
		history:-o | history:--output) words='table json yaml' ;;
		judge:-o | judge:--output) words='json text' ;;
		*:-o | *:--output) words='table wide json yaml' ;;
		*:--socket)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
			;;
		judge:--canary | judge:--baseline | judge:--share-file)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
			;;
		judge:--judge) words='mann_whitney ratio threshold sequential' ;;
		judge:--direction) words='increase decrease either' ;;
		judge:--reducer) words='avg last min max sum p50 p90 p95 p99' ;;
		judge:--effect-size) words='mean_ratio cles' ;;
		judge:--nan-strategy) words='remove replace' ;;
		judge:--outliers) words='keep remove' ;;
		judge:--kind) words='continuous count' ;;
		*) return 0 ;; # a number, a revision, a reason: nothing to offer
		esac
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return 0
	fi

	if [[ $cur == -* ]]; then
		words=$(_canaryctl_options "$cmd")
	elif [[ $cmd == help ]]; then
		((nargs == 0)) && words=$_canaryctl_commands
	elif ((nargs == 0)); then
		case $cmd in
		status | start | promote | approve | abort | pause | resume | retry | history | report)
			[[ -n $socket ]] || socket=${CANARYCTL_SOCKET:-}
			words=$(_canaryctl_canaries "${COMP_WORDS[0]}" "$socket")
			;;
		esac
	fi
	[[ -n $words ]] && mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	return 0
}
complete -F _canaryctl canaryctl
